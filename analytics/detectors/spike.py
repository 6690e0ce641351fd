"""Spike: robust z-score of the first difference against a rolling window.

``z = |d - median(D)| / (1.4826 * MAD(D))`` where ``d`` is the change from the
previous value and ``D`` the last ``window`` changes. A single outlier reading
gives two large changes (up and back); the rule acts on the first.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self


@dataclass
class Spike:
    window: int = 60
    grace_period: int = 20
    min_scale: float = 1e-3  # floor of the robust spread, for near-constant series
    last: float | None = None
    diffs: deque[float] = field(default_factory=deque)
    seen: int = 0

    def _scale(self) -> tuple[float, float]:
        med = statistics.median(self.diffs)
        mad = statistics.median(abs(d - med) for d in self.diffs)
        return med, max(1.4826 * mad, self.min_scale)

    def score_one(self, x: float) -> float:
        if self.last is None or self.seen < self.grace_period or len(self.diffs) < 3:
            return 0.0
        med, scale = self._scale()
        return abs((x - self.last) - med) / scale

    def learn_one(self, x: float) -> None:
        if self.last is not None:
            self.diffs.append(x - self.last)
            if len(self.diffs) > self.window:
                self.diffs.popleft()
        self.last = x
        self.seen += 1

    def state(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "grace_period": self.grace_period,
            "min_scale": self.min_scale,
            "last": self.last,
            "diffs": list(self.diffs),
            "seen": self.seen,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        s = dict(state)
        s["diffs"] = deque(s["diffs"])
        return cls(**s)
