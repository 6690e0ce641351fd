"""Unusual shapes in the city's hourly air-quality series (pure): ``aq.shape.{pollutant}``.

citywatch's general-purpose streaming detector (:class:`WindowNovelty`, the one
scored on NAB by ``citywatch bench detect``) watches each station's hourly mean
of each configured pollutant. Read hour by hour, a station's series has shapes
it keeps meeting (the morning and evening rush, the weekend lull). An hour whose
recent past has a shape the station has never shown, at either of two time
scales (the last 40 hours or the last 10 days), raises one info-level alert
that says which stretch of hours was new and what the closest known shape had
there. So does a new high or low beyond anything seen.

It complements the rules that know what to look for (advisories, sensor
quality, the seasonal baseline): it catches what nobody wrote a rule for, a
broken rhythm inside the normal range included, and stays quiet on a station
that keeps its habits (``citywatch bench detect``: 0.19 alerts per habitual
station-week; on the UCI roadside series one per 1.4 to 2.7 weeks per
pollutant). The alert clears after ``clear_after_h`` hours without a new
shape. The first ``warmup_h`` hours of a station only teach it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self

from alerts.model import Clear, Raise, Severity, alert
from analytics.detectors.window import WindowNovelty
from citywatch.contracts.instruments import POLLUTANTS, SYMBOLS, UNITS
from citywatch.i18n import Text, place


@dataclass(frozen=True)
class ShapeConfig:
    enabled: bool = True
    pollutants: tuple[str, ...] = POLLUTANTS  # the hourly series watched, per station
    warmup_h: int = 168  # hours that fix a station's scale and teach it before it may alert
    vigilance: float = (
        0.25  # how far (as a fraction of the warm-up's range) a shape must be from every known one
    )
    clear_after_h: int = 6  # the alert clears after this many hours without a new shape
    forget_after_d: int = 30  # a station (or pollutant) silent this long is forgotten: it learns afresh


def _ago(segments: list[int]) -> list[Text]:
    """Each segment (newest first) as the hours it covers, the hour just evaluated being the last hour."""
    out, start = [], 1
    for n in segments:
        if start == 1:
            out.append(Text("why.ago.last_hour") if n == 1 else Text("why.ago.last_hours", {"n": n}))
        else:
            out.append(
                Text("why.ago.hour", {"start": start})
                if n == 1
                else Text("why.ago.hours", {"start": start, "end": start + n - 1})
            )
        start += n
    return out


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 10 else f"{x:.0f}"


def check(config: ShapeConfig) -> str | None:
    """What is wrong with ``config`` (None: nothing)."""
    unknown = sorted(set(config.pollutants) - set(POLLUTANTS))
    if unknown:
        return f"pollutants: unknown {unknown[0]!r} (known: {', '.join(POLLUTANTS)})"
    if config.warmup_h < 24:
        return "warmup_h: at least 24 hours are needed to learn a station's day"
    if not 0 < config.vigilance < 1:
        return "vigilance: must be between 0 and 1 (a fraction of the warm-up's range)"
    if config.clear_after_h < 1:
        return "clear_after_h: must be at least 1"
    if config.forget_after_d < 1:
        return "forget_after_d: must be at least 1"
    return None


@dataclass
class ShapeWatch:
    """One :class:`WindowNovelty` per (pollutant, station) and the live ``aq.shape`` alerts."""

    config: ShapeConfig = field(default_factory=ShapeConfig)
    detectors: dict[str, WindowNovelty] = field(default_factory=dict)  # "pollutant:station"
    last_hour: dict[str, datetime] = field(default_factory=dict)  # the last hour each detector learned
    unusual_since: dict[str, datetime] = field(default_factory=dict)  # live alerts: the last new shape

    def on_hour(
        self, station: str, hour: datetime, values: dict[str, float | None]
    ) -> list[tuple[str, Raise | Clear]]:
        """Feed one completed hour of a station; the alert events it causes. Hours already learned are replays
        (a re-evaluated range) and change nothing."""
        if not self.config.enabled:
            return []
        out: list[tuple[str, Raise | Clear]] = []
        for p in self.config.pollutants:
            x = values.get(p)
            k = f"{p}:{station}"
            if x is None or not math.isfinite(x) or (k in self.last_hour and hour <= self.last_hour[k]):
                continue
            d = self.detectors.get(k)
            if d is None:
                d = self.detectors[k] = WindowNovelty(
                    grace_period=self.config.warmup_h, vigilance=self.config.vigilance
                )
            key = f"aq.shape.{p}:{station}"
            if d.score_one(x) > 0:
                out.append((key, self._event(p, station, hour, x, d)))
                self.unusual_since[k] = hour
            d.learn_one(x)
            self.last_hour[k] = hour
            if k in self.unusual_since:
                if d.met_new_shape:
                    self.unusual_since[k] = hour  # still meeting new shapes
                elif hour - self.unusual_since[k] >= timedelta(hours=self.config.clear_after_h):
                    del self.unusual_since[k]
                    out.append(
                        (
                            key,
                            Clear(
                                Text("clear.aq.shape", {"p": SYMBOLS[p], "hours": self.config.clear_after_h})
                            ),
                        )
                    )
        return out

    def only(self, stations: set[str]) -> None:
        """Keep what was learned of ``stations`` only (a zone partition that started from the city's)."""
        for table in (self.detectors, self.last_hour, self.unusual_since):
            for k in [k for k in table if k.split(":", 1)[1] not in stations]:
                del table[k]

    def tick(self, hour: datetime, stations: set[str] | None = None) -> list[tuple[str, Clear]]:
        """After an hour's ``on_hour`` calls: clear the live alerts that were not fed this hour (the station
        went quiet, the pollutant is no longer watched, the rule was turned off) once ``clear_after_h`` has
        passed, and forget what was learned from a station silent for ``forget_after_d`` days. ``stations``:
        the ones this service evaluates (a zone partition's), None for all."""
        out: list[tuple[str, Clear]] = []
        quiet = timedelta(hours=self.config.clear_after_h)
        for k, since in sorted(self.unusual_since.items()):
            p, station = k.split(":", 1)
            if (
                (stations is None or station in stations)
                and self.last_hour.get(k) != hour
                and hour - since >= quiet
            ):
                del self.unusual_since[k]
                why = "the rule is turned off" if not self.config.enabled else "no data since"
                out.append(
                    (
                        f"aq.shape.{p}:{station}",
                        Clear(
                            Text(
                                "clear.aq.shape.why",
                                {"p": SYMBOLS[p], "hours": self.config.clear_after_h, "why": why},
                            )
                        ),
                    )
                )
        forget = timedelta(days=self.config.forget_after_d)
        for k, last in list(self.last_hour.items()):
            if (
                (stations is None or k.split(":", 1)[1] in stations)
                and hour - last > forget
                and k not in self.unusual_since
            ):
                del self.last_hour[k]
                self.detectors.pop(k, None)
        return out

    def _event(self, p: str, station: str, hour: datetime, x: float, d: WindowNovelty) -> Raise:
        why = d.explain(x)
        assert d.low is not None
        low, span, rho = d.low, d.span, why["vigilance"]
        unit = UNITS[p]
        details: dict[str, Any] = {"pollutant": p, "vigilance": rho, "new_extreme": why["new_extreme"]}
        new = [s for s in why["scales"] if s.get("new") and not s["learning"]]
        baseline: float | None = None
        width = 1
        if new:
            s = new[0]  # the shortest time scale that is new
            width = sum(s["segments"])
            shape = [low + v * span for v in s["shape"]]
            nearest = [low + v * span for v in s.get("nearest", [])]
            i = max(range(len(shape)), key=lambda j: abs(shape[j] - nearest[j]) if nearest else 0)
            ago = _ago(s["segments"])
            baseline = nearest[i] if nearest else None
            details |= {
                "scale_h": width,
                "segments_h": s["segments"],
                "shape": shape,
                "nearest": nearest,
                "new_segments_h": s.get("new_segments", []),
            }
            said = {"p": SYMBOLS[p], "value": _fmt(x), "unit": unit, "width": width, "when": ago[i],
                    "averaged": _fmt(shape[i])}  # fmt: skip
            message = (
                Text("why.aq.shape.nearest", {**said, "nearest": _fmt(nearest[i])})
                if nearest
                else Text("why.aq.shape", said)
            )
            score = s["distance"] / rho
        if why["new_extreme"] or not new:  # a new high or low says more than the shape it makes
            lo, hi = why["range_seen"]
            message = Text(
                "why.aq.shape.high" if x > hi else "why.aq.shape.low",
                {"p": SYMBOLS[p], "value": _fmt(x), "unit": unit, "low": _fmt(lo), "high": _fmt(hi)},
            )
            baseline = hi if x > hi else lo
            score = abs(x - baseline) / span / rho
        return alert(
            f"aq.shape.{p}",
            station,
            "aq",
            Severity.INFO,
            Text("alert.aq.shape", {"pollutant": SYMBOLS[p], "station": place(station)}),
            score,
            observed=x,
            baseline=baseline,
            threshold=rho * span,  # how far a stretch must move (in the pollutant's unit) to be new
            score=score,
            window_start=hour - timedelta(hours=width),
            window_end=hour,
            details=details,
            message=message,
        )

    def configure(self, config: ShapeConfig) -> None:
        """New settings (a reloaded rules file): a new warm-up or vigilance makes every station learn afresh."""
        if (config.warmup_h, config.vigilance) != (self.config.warmup_h, self.config.vigilance):
            self.detectors.clear()
            self.last_hour.clear()
        self.config = config

    # -- persistence ----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "detectors": {k: d.state() for k, d in self.detectors.items()},
            "last_hour": {k: v.isoformat() for k, v in self.last_hour.items()},
            "unusual_since": {k: v.isoformat() for k, v in self.unusual_since.items()},
        }

    @classmethod
    def from_state(cls, s: dict[str, Any], config: ShapeConfig) -> Self:
        return cls(
            config,
            {k: WindowNovelty.from_state(v) for k, v in s.get("detectors", {}).items()},
            {k: datetime.fromisoformat(v) for k, v in s.get("last_hour", {}).items()},
            {k: datetime.fromisoformat(v) for k, v in s.get("unusual_since", {}).items()},
        )
