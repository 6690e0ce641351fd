"""citywatch's general-purpose streaming detector: never-seen level transitions.

The warm-up values fix a coarse scale: ``levels`` equal bands centred on
evenly spaced points from the smallest to the largest value seen while warming
up (values further out get bands of their own, below 0 or from ``levels``
up). From then on each value is read as
its band, and the detector remembers every short sequence of bands it has met
(a band after the previous one, after the previous two, ... up to ``order``).
A value is anomalous in proportion to how many of those sequences ending in it
are new: 1.0 when even the step from the previous band to this one has never
happened (a level never reached, a jump never made, a daily shape broken),
0.5 with ``order`` 2 when only the longer context is new. After a full alarm
the detector rests for ``rest`` values, so one anomaly raises one alarm, not a
stream of them.

This is in the family of the contextual detectors of the NAB scoreboard (CAD
OSE, HTM's sequence memory) kept to its simplest form: constant memory (at
most a few hundred remembered sequences), a few microseconds a value, no
model to retrain, and a finding that explains itself (``explain``: which
bands, and which transition was new).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self


@dataclass
class LevelTransitions:
    grace_period: int = 600  # values used to fix the scale and learn before scoring
    levels: int = 6
    order: int = 2
    rest: int | None = None  # values to stay quiet after a full alarm; default grace_period // 10
    alarm: float = 0.75  # an internal score at or above this starts the rest
    warmup: list[float] = field(default_factory=list)
    low: float | None = None
    step: float = 1.0
    seen: set[tuple[int, ...]] = field(default_factory=set)
    history: deque[int] = field(default_factory=deque)  # the last ``order`` bands
    recent: deque[float] = field(default_factory=deque)  # internal scores over the rest period
    count: int = 0

    def __post_init__(self) -> None:
        if self.levels < 2 or self.order < 1 or self.grace_period < 2:
            raise ValueError("levels >= 2, order >= 1 and grace_period >= 2 are required")
        if self.rest is None:
            self.rest = max(1, self.grace_period // 10)

    # -- the pure reading of one value --------------------------------------------------
    def band(self, x: float) -> int:
        if self.low is None:
            raise ValueError("the scale is not fixed before the warm-up ends")
        return math.floor((x - self.low) / self.step)

    def _novelty(self, b: int) -> float:
        h = tuple(self.history)
        if not h:
            return 0.0
        new = sum(1 for k in range(1, len(h) + 1) if (*h[len(h) - k :], b) not in self.seen)
        return new / len(h)

    def _resting(self) -> bool:
        return any(s >= self.alarm for s in self.recent)

    def score_one(self, x: float) -> float:
        if self.low is None or self.count < self.grace_period or not math.isfinite(x):
            return 0.0
        if self._resting():
            return 0.0
        return self._novelty(self.band(x))

    def explain(self, x: float) -> dict[str, Any]:
        """Why ``x`` scores as it does: its band, the bands before it and the new transitions."""
        if self.low is None or not math.isfinite(x):
            return {"warming_up": self.low is None, "finite": math.isfinite(x)}
        b, h = self.band(x), tuple(self.history)
        return {
            "band": b,
            "band_range": [self.low + b * self.step, self.low + (b + 1) * self.step],
            "previous_bands": list(h),
            "new_transitions": [
                list((*h[len(h) - k :], b))
                for k in range(1, len(h) + 1)
                if (*h[len(h) - k :], b) not in self.seen
            ],
            "resting": self._resting(),
        }

    # -- learning -------------------------------------------------------------------------
    def _fix_scale(self) -> None:
        lo, hi = min(self.warmup), max(self.warmup)
        self.step = (hi - lo) / (self.levels - 1) if hi > lo else (abs(lo) * 0.05 or 1.0)
        self.low = lo - self.step / 2  # bands centred on evenly spaced points from lo to hi
        values, self.warmup = self.warmup, []
        for v in values:
            self._learn_band(self.band(v))

    def _learn_band(self, b: int) -> None:
        assert self.rest is not None
        score = self._novelty(b)
        h = tuple(self.history)
        for k in range(1, len(h) + 1):
            self.seen.add((*h[len(h) - k :], b))
        self.history.append(b)
        if len(self.history) > self.order:
            self.history.popleft()
        self.recent.append(score)
        if len(self.recent) > self.rest:
            self.recent.popleft()

    def learn_one(self, x: float) -> None:
        if not math.isfinite(x):
            return  # range checks elsewhere report non-finite values; they teach nothing here
        self.count += 1
        if self.low is None:
            self.warmup.append(x)
            if len(self.warmup) >= self.grace_period:
                self._fix_scale()
            return
        self._learn_band(self.band(x))

    # -- persistence ----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "params": {
                "grace_period": self.grace_period,
                "levels": self.levels,
                "order": self.order,
                "rest": self.rest,
                "alarm": self.alarm,
            },
            "warmup": list(self.warmup),
            "low": self.low,
            "step": self.step,
            "seen": sorted(list(s) for s in self.seen),
            "history": list(self.history),
            "recent": list(self.recent),
            "count": self.count,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        d = cls(**state["params"])
        d.warmup = list(state["warmup"])
        d.low, d.step, d.count = state["low"], state["step"], state["count"]
        d.seen = {tuple(s) for s in state["seen"]}
        d.history = deque(state["history"])
        d.recent = deque(state["recent"])
        return d
