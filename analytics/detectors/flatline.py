"""Stuck sensor: the same value ``min_run`` times in a row (runs of zeros included)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Self


@dataclass
class Flatline:
    min_run: int = 10
    tolerance: float = 0.0  # values closer than this count as equal
    grace_period: int = 0
    last: float | None = None
    run: int = 0

    def score_one(self, x: float) -> float:
        """Run length including ``x``, as a fraction of ``min_run`` (>= 1: stuck)."""
        same = self.last is not None and abs(x - self.last) <= self.tolerance
        return (self.run + 1 if same else 1) / self.min_run

    def learn_one(self, x: float) -> None:
        if self.last is not None and abs(x - self.last) <= self.tolerance:
            self.run += 1
        else:
            self.run = 1
        self.last = x

    def state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        return cls(**state)
