from __future__ import annotations

from typing import Any, Protocol, Self


class Detector(Protocol):
    grace_period: int

    def score_one(self, x: float) -> float: ...

    def learn_one(self, x: float) -> None: ...

    def state(self) -> dict[str, Any]: ...

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self: ...
