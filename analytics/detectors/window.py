"""citywatch's general-purpose streaming detector: never-seen recent shapes.

Each value is read together with its recent past, as a short vector of means
over segments that grow into the past (with the default ``segments`` (1, 3,
9, 27): the value itself, the mean of the 3 before it, of the 9 before those
and of the 27 before those; 40 values in all). The vector is scaled by the
warm-up's range, so 1.0 is the distance from the smallest to the largest value
of the warm-up.

The detector keeps a memory of the shapes it has met: a new vector that lies
within the vigilance radius of a remembered one (in every segment: the
L-infinity distance) is familiar; otherwise it is remembered, and after the
warm-up it is an alarm. The radius is ``vigilance`` while the stream stays
within its warm-up range, and widens by ``(range seen / warm-up range) **
widen`` once it has swung wider: on a stream that turned out to move four
times as far as its warm-up, shapes must differ by sqrt(2) times as much to be
new. This is the vigilance test of adaptive-resonance clustering (the family
of ARTime on the NAB scoreboard) in its simplest form: fixed prototypes, no
learning rate, no model to retrain. A value that leaves the range of
everything seen so far by more than ``margin`` of the warm-up range is also
an alarm (a new high or low that the segment means would blur).

After an alarm the detector rests for ``rest`` values (extended by every new
shape met inside it), so one event raises one alarm and a stream learning a
new regime does not raise a stream of them. An alarm scores ``0.5 + 0.5 / (1
+ k)``, ``k`` being the new shapes met in the last ``recall`` values: a stream
that keeps surprising is believed less.

Cost: a few microseconds a value and at most ``memory`` remembered shapes (the
least recently met is forgotten first); ``explain`` says which segments were
new and by how much.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self


@dataclass
class WindowNovelty:
    grace_period: int = 600  # values used to fix the scale and learn before scoring
    segments: tuple[int, ...] = (1, 3, 9, 27)  # segment lengths, newest first
    vigilance: float = 0.25  # as a fraction of the warm-up range
    widen: float = 0.25  # vigilance grows by (range seen / warm-up range) ** widen
    margin: float = 0.05  # a new high or low by this fraction of the warm-up range is an alarm
    rest: int | None = None  # values to stay quiet after an alarm; default grace_period // 10
    recall: int | None = None  # alarms this far back lower the score; default 20 * grace_period
    memory: int = 4096  # remembered shapes at most
    warmup: list[float] = field(default_factory=list)
    low: float | None = None
    span: float = 1.0
    lowest: float = math.inf
    highest: float = -math.inf
    window: deque[float] = field(default_factory=deque)  # the last sum(segments) values, newest last
    shapes: list[list[float]] = field(default_factory=list)
    used: list[int] = field(default_factory=list)  # when each shape was last met
    alarms: deque[int] = field(
        default_factory=deque
    )  # when new shapes were met after the warm-up (within recall)
    quiet_until: int = -1
    count: int = 0

    def __post_init__(self) -> None:
        if self.grace_period < 2 or not self.segments or min(self.segments) < 1 or self.vigilance <= 0:
            raise ValueError("grace_period >= 2, segments >= 1 and vigilance > 0 are required")
        if self.widen < 0:
            raise ValueError("widen >= 0 is required")
        self.segments = tuple(self.segments)
        if self.rest is None:
            self.rest = max(1, self.grace_period // 10)
        if self.recall is None:
            self.recall = 20 * self.grace_period
        self._bounds: list[tuple[int, int]] = []
        end = sum(self.segments)
        for n in self.segments:
            self._bounds.append((end - n, end))
            end -= n

    # -- the pure reading of one value -------------------------------------------------
    @property
    def width(self) -> int:
        return sum(self.segments)

    def features(self, values: list[float]) -> list[float]:
        """The segment means of the last ``width`` values (oldest first), scaled by the warm-up range."""
        if self.low is None:
            raise ValueError("the scale is not fixed before the warm-up ends")
        return [(math.fsum(values[a:b]) / (b - a) - self.low) / self.span for a, b in self._bounds]

    def radius(self) -> float:
        """The vigilance now: wider once the stream has swung wider than in its warm-up."""
        growth = (self.highest - self.lowest) / self.span if self.highest > self.lowest else 1.0
        return float(self.vigilance * max(1.0, growth) ** self.widen)

    def _nearest(self, v: list[float], rho: float) -> tuple[int, float]:
        """The first remembered shape within ``rho`` (or the nearest one), and its distance."""
        best, best_d = -1, math.inf
        for i, p in enumerate(self.shapes):
            d = 0.0
            for a, b in zip(p, v, strict=True):
                e = a - b if a > b else b - a
                if e > d:
                    d = e
                    if d >= best_d:
                        break
            if d < best_d:
                best, best_d = i, d
                if d <= rho:
                    break
        return best, best_d

    def _with(self, x: float) -> list[float] | None:
        if len(self.window) < self.width - 1:
            return None
        w = list(self.window)[-(self.width - 1) :] if self.width > 1 else []
        w.append(x)
        return w

    def _novel(self, x: float) -> bool:
        w = self._with(x)
        margin = self.margin * self.span
        if x > self.highest + margin or x < self.lowest - margin:
            return True
        if w is None:
            return False
        rho = self.radius()
        return self._nearest(self.features(w), rho)[1] > rho

    def score_one(self, x: float) -> float:
        if self.low is None or self.count < self.grace_period or not math.isfinite(x):
            return 0.0
        if self.count <= self.quiet_until or not self._novel(x):
            return 0.0
        return 0.5 + 0.5 / (1 + len(self.alarms))

    def explain(self, x: float) -> dict[str, Any]:
        """Why ``x`` scores as it does: its shape, the nearest remembered one, the segments that differ."""
        if self.low is None or not math.isfinite(x):
            return {"warming_up": self.low is None, "finite": math.isfinite(x)}
        out: dict[str, Any] = {
            "range_seen": [self.lowest, self.highest],
            "new_extreme": x > self.highest + self.margin * self.span
            or x < self.lowest - self.margin * self.span,
            "resting": self.count <= self.quiet_until,
            "recent_alarms": len(self.alarms),
        }
        w = self._with(x)
        if w is not None:
            v = self.features(w)
            rho = self.radius()
            i, d = self._nearest(v, rho)
            out["shape"] = dict(zip(self.segments, v, strict=True))
            out["distance"] = d
            out["vigilance"] = rho
            if i >= 0:
                p = self.shapes[i]
                out["nearest"] = dict(zip(self.segments, p, strict=True))
                out["new_segments"] = [
                    n for n, a, b in zip(self.segments, p, v, strict=True) if abs(a - b) > rho
                ]
        return out

    # -- learning -------------------------------------------------------------------------
    def _fix_scale(self) -> None:
        lo, hi = min(self.warmup), max(self.warmup)
        self.low = lo
        self.span = hi - lo if hi > lo else (abs(lo) * 0.05 or 1.0)
        values, self.warmup = self.warmup, []
        self.count -= len(values)
        for v in values:
            self._learn(v, warm=True)

    def _remember(self, v: list[float]) -> None:
        if len(self.shapes) >= self.memory:
            oldest = min(range(len(self.used)), key=self.used.__getitem__)
            del self.shapes[oldest], self.used[oldest]
        self.shapes.append(v)
        self.used.append(self.count)

    def _learn(self, x: float, warm: bool) -> None:
        assert self.rest is not None and self.recall is not None
        self.count += 1
        margin = self.margin * self.span
        extreme = x > self.highest + margin or x < self.lowest - margin
        self.lowest, self.highest = min(self.lowest, x), max(self.highest, x)
        self.window.append(x)
        if len(self.window) > self.width:
            self.window.popleft()
        novel = extreme and self.count > 1
        if len(self.window) == self.width:
            v = self.features(list(self.window))
            rho = self.radius()
            i, d = self._nearest(v, rho)
            if d > rho:
                self._remember(v)
                novel = True
            else:
                self.used[i] = self.count
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
                "segments": list(self.segments),
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
            "window": list(self.window),
            "shapes": [list(s) for s in self.shapes],
            "used": list(self.used),
            "alarms": list(self.alarms),
            "quiet_until": self.quiet_until,
            "count": self.count,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        p = dict(state["params"])
        p["segments"] = tuple(p["segments"])
        d = cls(**p)
        d.warmup = list(state["warmup"])
        d.low, d.span, d.count = state["low"], state["span"], state["count"]
        d.lowest = math.inf if state["lowest"] is None else state["lowest"]
        d.highest = -math.inf if state["highest"] is None else state["highest"]
        d.window = deque(state["window"])
        d.shapes = [list(s) for s in state["shapes"]]
        d.used = list(state["used"])
        d.alarms = deque(state["alarms"])
        d.quiet_until = state["quiet_until"]
        return d
