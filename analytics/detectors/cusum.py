"""Slow drift: a two-sided CUSUM on the value standardised by a learned level.

During the grace period it learns the level (median) and spread (MAD); after it,
``S+ = max(0, S+ + z - k)``, ``S- = max(0, S- - z - k)`` with ``z`` the
standardised value. The score is ``max(S+, S-) / h`` (>= 1: drifted). The level
keeps adapting slowly (``alpha``) only while no drift is building, so a drift
is not learned away.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Self


@dataclass
class Cusum:
    grace_period: int = 120
    k: float = 0.5
    h: float = 30.0
    alpha: float = 0.002
    min_scale: float = 1e-3
    cap: float = 2.0  # sums are capped at cap * h, so a finding clears soon after the drift ends
    warmup: list[float] = field(default_factory=list)
    level: float | None = None
    scale: float = 1.0
    pos: float = 0.0
    neg: float = 0.0

    def _z(self, x: float) -> float:
        assert self.level is not None
        return (x - self.level) / self.scale

    def score_one(self, x: float) -> float:
        if self.level is None:
            return 0.0
        z = self._z(x)
        pos = min(self.cap * self.h, max(0.0, self.pos + z - self.k))
        neg = min(self.cap * self.h, max(0.0, self.neg - z - self.k))
        return max(pos, neg) / self.h

    def learn_one(self, x: float) -> None:
        if self.level is None:
            self.warmup.append(x)
            if len(self.warmup) >= self.grace_period:
                self.level = statistics.median(self.warmup)
                mad = statistics.median(abs(v - self.level) for v in self.warmup)
                self.scale = max(1.4826 * mad, self.min_scale)
                self.warmup = []
            return
        z = self._z(x)
        self.pos = min(self.cap * self.h, max(0.0, self.pos + z - self.k))
        self.neg = min(self.cap * self.h, max(0.0, self.neg - z - self.k))
        if self.pos == 0.0 and self.neg == 0.0:
            self.level += self.alpha * (x - self.level)

    def reset(self) -> None:
        self.pos = self.neg = 0.0

    def state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        return cls(**state)
