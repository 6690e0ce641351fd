"""Edge-triggered conditions shared by the rule modules (pure).

A condition is raised once when it starts and cleared once when it ends; the
alert is only built when it is raised (``make`` is called lazily).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from alerts.model import AlertEvent, Clear, Raise
from citywatch.i18n import Text


class Conditions:
    def __init__(self) -> None:
        self.active: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self.active

    def update(
        self, key: str, on: bool, make: Callable[[], Raise], t: datetime, why_off: str | Text
    ) -> list[AlertEvent]:
        if on and key not in self.active:
            self.active.add(key)
            return [(key, make(), t)]
        return [] if on else self.clear(key, t, why_off)

    def clear(self, key: str, t: datetime, why: str | Text) -> list[AlertEvent]:
        if key not in self.active:
            return []
        self.active.discard(key)
        return [(key, Clear(why), t)]
