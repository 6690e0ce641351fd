"""citywatch's general-purpose streaming detector: never-seen recent shapes.

Each value is read together with its recent past, at two time scales, as
short vectors of means over segments that grow into the past. With the
default ``scales``:

- fast, (1, 3, 9, 27): the value itself, the mean of the 3 before it, of the 9
  before those and of the 27 before those (40 values);
- slow, (6, 18, 54, 162): the same shape over 240 values, six times coarser.

The vectors are scaled by the warm-up's range, so 1.0 is the distance from
the smallest to the largest value of the warm-up.

For each scale the detector keeps a memory of the shapes it has met: a new
vector that lies within the vigilance radius of a remembered one (in every
segment: the L-infinity distance) is familiar; otherwise it is remembered,
and once that scale has learned for half a warm-up it is an alarm. The radius
is ``vigilance`` while the stream stays within its warm-up range, and widens
by ``(range seen / warm-up range) ** widen`` once it has swung wider: on a
stream that turned out to move four times as far as its warm-up, shapes must
differ by sqrt(2) times as much to be new. This is the vigilance test of
adaptive-resonance clustering (the family of ARTime on the NAB scoreboard) in
its simplest form: fixed prototypes, no learning rate, no model to retrain. A
value that leaves the range of everything seen so far by more than
``margin`` of the warm-up range is also an alarm (a new high or low that the
segment means would blur).

After an alarm the detector rests for ``rest`` values (extended by every new
shape met inside it), so one event raises one alarm and a stream learning a
new regime does not raise a stream of them. An alarm scores ``0.5 + 0.5 / (1
+ k)``, ``k`` being the new shapes met in the last ``recall`` values: a stream
that keeps surprising is believed less.

Cost: about ten microseconds a value and at most ``memory`` remembered shapes
per scale (the least recently met is forgotten first); ``explain`` says which
scale and which segments were new, and by how much.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Self

import numpy as np

Scales = tuple[tuple[int, ...], ...]


#: from this many remembered shapes on, the nearest is found with numpy (the same answer: the first within
#: the radius, else the first nearest; a distance is a maximum of exact differences either way)
NUMPY_FROM = 24


@dataclass
class ShapeMemory:
    """The shapes met at one time scale."""

    segments: tuple[int, ...]  # segment lengths, newest first
    shapes: list[list[float]] = field(default_factory=list)
    used: list[int] = field(default_factory=list)  # when each shape was last met
    met: int = 0  # full windows read so far
    last: int = -1  # the shape met last (shapes recur: it is tried first)

    def __post_init__(self) -> None:
        self.segments = tuple(self.segments)
        self.width = sum(self.segments)
        self.bounds: list[tuple[int, int]] = []  # positions in a window of ``width`` values, oldest first
        end = self.width
        for n in self.segments:
            self.bounds.append((end - n, end))
            end -= n
        self._array: np.ndarray | None = None  # the shapes as rows (room to grow), once there are many

    def _rows(self) -> np.ndarray:
        n = len(self.shapes)
        if self._array is None or len(self._array) < n:
            self._array = np.empty((max(2 * n, 64), len(self.segments)))
            if n:
                self._array[:n] = self.shapes
        return self._array[:n]

    def features(self, sums: list[float], x: float, low: float, span: float) -> list[float] | None:
        """The segment means of the newest ``width`` values — the window's, then ``x`` — scaled; None while
        too few. ``sums``: the window's running sums (``sums[i]``: of its first ``i`` values)."""
        n = len(sums) - 1  # values before x
        off = n + 1 - self.width
        if off < 0:
            return None
        return [
            (
                (sums[off + b - 1] - sums[off + a] + x if off + b > n else sums[off + b] - sums[off + a])
                / (b - a)
                - low
            )
            / span
            for a, b in self.bounds
        ]

    @staticmethod
    def _distance(p: list[float], v: list[float], stop: float) -> float:
        """The L-infinity distance, or a value >= ``stop`` as soon as it is known to reach it."""
        d = 0.0
        for a, b in zip(p, v, strict=True):
            e = a - b if a > b else b - a
            if e > d:
                d = e
                if d >= stop:
                    break
        return d

    def nearest(self, v: list[float], rho: float) -> tuple[int, float]:
        """A remembered shape within ``rho`` (the last one met first), else the nearest; and its distance."""
        if 0 <= self.last < len(self.shapes):
            d = self._distance(self.shapes[self.last], v, math.inf)
            if d <= rho:
                return self.last, d
        if len(self.shapes) >= NUMPY_FROM:
            d = np.abs(self._rows() - v).max(axis=1)
            within = np.flatnonzero(d <= rho)
            i = int(within[0]) if within.size else int(d.argmin())
            return i, float(d[i])
        best, best_d = -1, math.inf
        for i, p in enumerate(self.shapes):
            d = self._distance(p, v, best_d)
            if d < best_d:
                best, best_d = i, d
                if d <= rho:
                    break
        return best, best_d

    def learn(
        self, v: list[float], rho: float, now: int, memory: int, found: tuple[int, float] | None = None
    ) -> bool:
        """Meet ``v`` (``found``: its nearest within ``rho``, already looked for): True if it was new (and is
        now remembered)."""
        self.met += 1
        i, d = found or self.nearest(v, rho)
        if d <= rho:
            self.used[i] = now
            self.last = i
            return False
        if len(self.shapes) >= memory:
            oldest = min(range(len(self.used)), key=self.used.__getitem__)
            del self.shapes[oldest], self.used[oldest]
            self._array = None
        self.shapes.append(v)
        self.used.append(now)
        self.last = len(self.shapes) - 1
        if self._array is not None and len(self._array) >= len(self.shapes):
            self._array[self.last] = v
        return True

    def state(self) -> dict[str, Any]:
        return {
            "segments": list(self.segments),
            "shapes": [list(p) for p in self.shapes],
            "used": list(self.used),
            "met": self.met,
            "last": self.last,
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> Self:
        return cls(tuple(s["segments"]), [list(p) for p in s["shapes"]], list(s["used"]), s["met"], s["last"])


@dataclass
class WindowNovelty:
    grace_period: int = 600  # values used to fix the scale and learn before scoring
    scales: Scales = ((1, 3, 9, 27), (6, 18, 54, 162))  # segment lengths per time scale, newest first
    vigilance: float = 0.25  # as a fraction of the warm-up range
    widen: float = 0.25  # vigilance grows by (range seen / warm-up range) ** widen
    margin: float = 0.05  # a new high or low by this fraction of the warm-up range is an alarm
    rest: int | None = None  # values to stay quiet after an alarm; default grace_period // 10
    recall: int | None = None  # alarms this far back lower the score; default 20 * grace_period
    memory: int = 4096  # remembered shapes at most, per scale
    warmup: list[float] = field(default_factory=list)
    low: float | None = None
    span: float = 1.0
    lowest: float = math.inf
    highest: float = -math.inf
    window: list[float] = field(default_factory=list)  # the last values the widest scale reads (and more)
    memories: list[ShapeMemory] = field(default_factory=list)
    alarms: deque[int] = field(default_factory=deque)  # when new shapes were met after the warm-up
    quiet_until: int = -1
    count: int = 0

    def __post_init__(self) -> None:
        if self.grace_period < 2 or self.vigilance <= 0 or self.widen < 0:
            raise ValueError("grace_period >= 2, vigilance > 0 and widen >= 0 are required")
        if not self.scales or any(not s or min(s) < 1 for s in self.scales):
            raise ValueError("at least one scale, each of segments of length >= 1, is required")
        self.scales = tuple(tuple(s) for s in self.scales)
        if self.rest is None:
            self.rest = max(1, self.grace_period // 10)
        if self.recall is None:
            self.recall = 20 * self.grace_period
        if not self.memories:
            self.memories = [ShapeMemory(s) for s in self.scales]
        self._width = max(m.width for m in self.memories)
        self._cache: tuple[int, float, list[list[float] | None]] | None = None
        # each scale's nearest shape to the value scored last, for the same value's learning: (count, x, rho)
        self._found: tuple[int, float, float, dict[int, tuple[int, float]]] | None = None
        self._sums = [0.0, *accumulate(self.window)]  # running sums of the window, for its segment means

    # -- the pure reading of one value -------------------------------------------------
    def radius(self) -> float:
        """The vigilance now: wider once the stream has swung wider than in its warm-up."""
        growth = (self.highest - self.lowest) / self.span if self.highest > self.lowest else 1.0
        return float(self.vigilance * max(1.0, growth) ** self.widen)

    def _extreme(self, x: float) -> bool:
        margin = self.margin * self.span
        return x > self.highest + margin or x < self.lowest - margin

    def _shapes_with(self, x: float) -> list[list[float] | None]:
        """Each scale's shape of the window ending in ``x`` (None where the window is still short)."""
        if self._cache is not None and self._cache[0] == self.count and self._cache[1] == x:
            return self._cache[2]
        assert self.low is not None
        out = [m.features(self._sums, x, self.low, self.span) for m in self.memories]
        self._cache = (self.count, x, out)
        return out

    def _ready(self, m: ShapeMemory) -> bool:
        return m.met >= self.grace_period // 2

    def _novel(self, x: float) -> bool:
        if self._extreme(x):
            return True
        rho = self.radius()
        found: dict[int, tuple[int, float]] = {}
        self._found = (self.count, x, rho, found)
        for k, (m, v) in enumerate(zip(self.memories, self._shapes_with(x), strict=True)):
            if v is not None and self._ready(m):
                found[k] = m.nearest(v, rho)
                if found[k][1] > rho:
                    return True
        return False

    def score_one(self, x: float) -> float:
        if self.low is None or self.count < self.grace_period or not math.isfinite(x):
            return 0.0
        if self.count <= self.quiet_until or not self._novel(x):
            return 0.0
        return 0.5 + 0.5 / (1 + len(self.alarms))

    def explain(self, x: float) -> dict[str, Any]:
        """Why ``x`` scores as it does: per scale its shape, the nearest remembered one, what differs."""
        if self.low is None or not math.isfinite(x):
            return {"warming_up": self.low is None, "finite": math.isfinite(x)}
        rho = self.radius()
        out: dict[str, Any] = {
            "range_seen": [self.lowest, self.highest],
            "new_extreme": self._extreme(x),
            "vigilance": rho,
            "resting": self.count <= self.quiet_until,
            "recent_alarms": len(self.alarms),
            "scales": [],
        }
        for m, v in zip(self.memories, self._shapes_with(x), strict=True):
            scale: dict[str, Any] = {"segments": list(m.segments), "learning": not self._ready(m)}
            if v is not None:
                i, d = m.nearest(v, -1.0)  # no radius to stop at: the nearest of all
                scale["shape"] = v
                scale["distance"] = d
                scale["new"] = d > rho
                if i >= 0:
                    p = m.shapes[i]
                    scale["nearest"] = p
                    scale["new_segments"] = [
                        n for n, a, b in zip(m.segments, p, v, strict=True) if abs(a - b) > rho
                    ]
            out["scales"].append(scale)
        return out

    @property
    def met_new_shape(self) -> bool:
        """The value learned last was new (after the warm-up): the stream is still surprising."""
        return bool(self.alarms) and self.alarms[-1] == self.count

    # -- learning -------------------------------------------------------------------------
    def _fix_scale(self) -> None:
        lo, hi = min(self.warmup), max(self.warmup)
        self.low = lo
        self.span = hi - lo if hi > lo else (abs(lo) * 0.05 or 1.0)
        values, self.warmup = self.warmup, []
        self.count -= len(values)
        for v in values:
            self._learn(v, warm=True)

    def _learn(self, x: float, warm: bool) -> None:
        assert self.rest is not None and self.recall is not None
        novel = self.count > 0 and self._extreme(x)
        rho = self.radius()
        f = self._found
        found = f[3] if f is not None and f[0] == self.count and f[1] == x and f[2] == rho else {}
        for k, (m, v) in enumerate(zip(self.memories, self._shapes_with(x), strict=True)):
            if v is not None:
                ready = self._ready(m)
                if m.learn(v, rho, self.count + 1, self.memory, found.get(k)) and ready:
                    novel = True
        self.count += 1
        self._cache = self._found = None
        self.lowest, self.highest = min(self.lowest, x), max(self.highest, x)
        self.window.append(x)
        self._sums.append(self._sums[-1] + x)
        if len(self.window) >= 2 * self._width:  # trimmed now and then, not at every value
            del self.window[: -self._width]
            self._sums = [0.0, *accumulate(self.window)]
        while self.alarms and self.alarms[0] <= self.count - self.recall:
            self.alarms.popleft()
        if novel and not warm:
            self.alarms.append(self.count)
            self.quiet_until = self.count + self.rest - 1

    def learn_one(self, x: float) -> None:
        if not math.isfinite(x):
            return  # range checks elsewhere report non-finite values; they teach nothing here
        if self.low is None:
            self.count += 1
            self.warmup.append(x)
            if len(self.warmup) >= self.grace_period:
                self._fix_scale()
            return
        self._learn(x, warm=False)

    # -- persistence ----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "params": {
                "grace_period": self.grace_period,
                "scales": [list(s) for s in self.scales],
                "vigilance": self.vigilance,
                "widen": self.widen,
                "margin": self.margin,
                "rest": self.rest,
                "recall": self.recall,
                "memory": self.memory,
            },
            "warmup": list(self.warmup),
            "low": self.low,
            "span": self.span,
            "lowest": self.lowest if math.isfinite(self.lowest) else None,
            "highest": self.highest if math.isfinite(self.highest) else None,
            "window": list(self.window),  # as kept (its running sums start where it does)
            "memories": [m.state() for m in self.memories],
            "alarms": list(self.alarms),
            "quiet_until": self.quiet_until,
            "count": self.count,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        p = dict(state["params"])
        p["scales"] = tuple(tuple(s) for s in p["scales"])
        d = cls(**p, memories=[ShapeMemory.from_state(m) for m in state["memories"]])
        d.warmup = list(state["warmup"])
        d.low, d.span, d.count = state["low"], state["span"], state["count"]
        d.lowest = math.inf if state["lowest"] is None else state["lowest"]
        d.highest = -math.inf if state["highest"] is None else state["highest"]
        d.window = list(state["window"])
        d._sums = [0.0, *accumulate(d.window)]
        d.alarms = deque(state["alarms"])
        d.quiet_until = state["quiet_until"]
        return d
