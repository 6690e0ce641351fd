"""citywatch's general-purpose streaming detector for any numeric sensor stream.

Per value: how surprising is its level and its change, against a rolling
window of the series' own recent past (robust z-scores: median and MAD), and
how rare is that surprise in the detector's own score history (an empirical
tail probability, like HTM's anomaly likelihood). After a detection the
detector stays quiet for ``refractory`` values: one anomaly, one alarm.
Output in [0, 1].
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self


def _median_sorted(s: list[float]) -> float:
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


@dataclass
class _Robust:
    """Rolling median and MAD over the last ``size`` values (sorted list, O(size) updates)."""

    size: int
    refresh: int = 1  # the median/MAD are recomputed every ``refresh`` additions (1: exact; 4: 4x cheaper, a little worse)
    window: deque[float] = field(default_factory=deque)
    ordered: list[float] = field(default_factory=list)
    _stats: tuple[float, float, float] | None = None  # median, MAD, span
    _age: int = 0

    def add(self, x: float) -> None:
        self.window.append(x)
        bisect.insort(self.ordered, x)
        if len(self.window) > self.size:
            old = self.window.popleft()
            del self.ordered[bisect.bisect_left(self.ordered, old)]
        self._age += 1

    def z(self, x: float, floor: float) -> float:
        if len(self.ordered) < 8:
            return 0.0
        if self._stats is None or self._age >= self.refresh:
            m = _median_sorted(self.ordered)
            self._stats = (
                m,
                _median_sorted(sorted(abs(v - m) for v in self.ordered)),
                self.ordered[-1] - self.ordered[0],
            )
            self._age = 0
        med, mad, span = self._stats
        scale = max(1.4826 * mad, floor * (span if span > 0 else abs(med) + 1.0), 1e-9)
        return abs(x - med) / scale


@dataclass
class Novelty:
    window: int = 1000
    history: int = 5000
    grace_period: int = 150
    refractory: int = 150
    floor: float = 0.02
    smooth: int = 1  # also score the mean of the last ``smooth`` values (level shifts through noise)
    level: _Robust = field(init=False)
    change: _Robust = field(init=False)
    scores: _Robust = field(init=False)
    last: float | None = None
    recent: deque[float] = field(default_factory=deque)
    seen: int = 0
    quiet: int = 0
    _cache: tuple[float, float, float] | None = None  # (x, raw, score) of the last score_one

    def __post_init__(self) -> None:
        self.level = _Robust(self.window)
        self.change = _Robust(self.window)
        self.scores = _Robust(self.history)

    def _raw(self, x: float) -> float:
        zl = self.level.z(x, self.floor)
        zd = self.change.z(x - self.last, self.floor) if self.last is not None else 0.0
        if self.smooth > 1 and len(self.recent) >= self.smooth - 1:
            m = (sum(list(self.recent)[-(self.smooth - 1) :]) + x) / self.smooth
            zl = max(zl, self.level.z(m, self.floor) * 1.5)
        return max(zl, zd)

    def score_one(self, x: float) -> float:
        raw = self._raw(x)
        score = 0.0
        past = self.scores.ordered
        if self.seen >= self.grace_period and self.quiet == 0 and past:
            rank = bisect.bisect_left(past, raw)  # how many past surprises were smaller
            score = 1.0 - (len(past) - rank + 1) / (len(past) + 1)
        self._cache = (x, raw, score)
        return score

    def learn_one(self, x: float) -> None:
        if self._cache is None or self._cache[0] != x:
            self.score_one(x)
        assert self._cache is not None
        _, raw, s = self._cache
        self._cache = None
        self.scores.add(raw)
        if self.last is not None:
            self.change.add(x - self.last)
        self.level.add(x)
        self.recent.append(x)
        if len(self.recent) > self.smooth:
            self.recent.popleft()
        self.last = x
        self.seen += 1
        if self.quiet > 0:
            self.quiet -= 1
        elif s >= 0.999:
            self.quiet = self.refractory

    def state(self) -> dict[str, Any]:
        return {
            "params": {
                k: getattr(self, k)
                for k in ("window", "history", "grace_period", "refractory", "floor", "smooth")
            },
            "level": list(self.level.window),
            "change": list(self.change.window),
            "scores": list(self.scores.window),
            "last": self.last,
            "recent": list(self.recent),
            "seen": self.seen,
            "quiet": self.quiet,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        d = cls(**state["params"])
        for name in ("level", "change", "scores"):
            r: _Robust = getattr(d, name)
            r.window = deque(state[name])
            r.ordered = sorted(state[name])
        d.last, d.recent, d.seen, d.quiet = (
            state["last"],
            deque(state["recent"]),
            state["seen"],
            state["quiet"],
        )
        return d
