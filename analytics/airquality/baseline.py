"""Learned baselines for air quality (pure apart from scikit-learn).

* :class:`SeasonalBaseline` — per station and pollutant, what is normal for this
  hour of the day on a weekday or a weekend day: the median and MAD of the last
  ``keep`` values seen in that slot. ``score`` is a robust z-score.
* :class:`MultivariateModel` — how far a station's hourly pollutant mix lies
  from its usual ones: the Mahalanobis distance of the logarithms of its
  pollutants under a shrunk covariance (scikit-learn's Ledoit-Wolf) of its last
  14 days, against the distance its 0.5 % most unusual hours of those days reach;
  when it calls an hour unusual it also says which pollutants were unusual and
  by how much (robust z against the training data), so the finding explains
  itself.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sklearn.covariance import LedoitWolf

from analytics.airquality.cai import BREAKPOINTS
from citywatch.contracts.instruments import DEFAULT
from citywatch.localtime import SEOUL

FEATURES = ("pm10", "pm25", "o3", "no2", "co", "so2")
TRAIN_WINDOW = timedelta(days=14)  # the multivariate model learns from a station's hours of the last 14 days
RETRAIN_SHARE = 0.25  # ... and learns again once this share of them is new
TRIM = 0.1  # ... its usual mixes' shape from all but the farthest tenth of them


def slot(t: datetime, tz: ZoneInfo = SEOUL) -> str:
    """Weekday or weekend, and the hour, in the city's time zone."""
    local = t.astimezone(tz)
    return f"{'we' if local.weekday() >= 5 else 'wd'}{local.hour:02d}"


def robust_z(x: float, values: list[float], floor: float) -> float:
    med = statistics.median(values)
    mad = statistics.median(abs(v - med) for v in values)
    return (x - med) / max(1.4826 * mad, floor)


@dataclass
class SeasonalBaseline:
    keep: int = 28  # values per slot: four weeks of weekdays at that hour
    min_values: int = 5
    floor: float = 2.0  # smallest spread assumed (units of the pollutant)
    slots: dict[str, deque[float]] = field(default_factory=dict)
    tz: ZoneInfo = field(default=SEOUL, compare=False)  # the city's: which local hour a slot is

    def score(self, t: datetime, x: float) -> float | None:
        values = self.slots.get(slot(t, self.tz))
        if values is None or len(values) < self.min_values:
            return None
        return robust_z(x, list(values), self.floor)

    def expected(self, t: datetime) -> float | None:
        values = self.slots.get(slot(t, self.tz))
        return statistics.median(values) if values else None

    def learn(self, t: datetime, x: float) -> None:
        d = self.slots.setdefault(slot(t, self.tz), deque(maxlen=self.keep))
        d.append(x)

    def state(self) -> dict[str, Any]:
        return {
            "keep": self.keep,
            "min_values": self.min_values,
            "floor": self.floor,
            "slots": {k: list(v) for k, v in self.slots.items()},
        }

    @classmethod
    def from_state(cls, s: dict[str, Any], tz: ZoneInfo = SEOUL) -> SeasonalBaseline:
        b = cls(s["keep"], s["min_values"], s["floor"], tz=tz)
        b.slots = {k: deque(v, maxlen=b.keep) for k, v in s["slots"].items()}
        return b


@dataclass
class Unusual:
    score: float  # 1 - the mix's distance over its usual hours' 0.5 % edge: below 0 is beyond (far-out values count too)
    features: dict[str, float]  # robust z per pollutant, the most unusual first


class MultivariateModel:
    """A station's usual pollutant mixes: the covariance of the logarithms of its hourly pollutant vectors
    (each over its analyser's uncertainty, so a near-zero pollutant does not stretch the scale) — pollutants
    rise and fall together (a haze lifts particulates and CO at once; traffic NO2 with CO), so a mix is
    unusual by its combination as well as by any one pollutant. Missing values are imputed with the
    training median. Fitting costs a fraction of a millisecond, which lets a re-evaluation of years of
    a network retrain as often as the data change."""

    def __init__(self, contamination: float = 0.005, min_rows: int = 72, z_limit: float = 8.0) -> None:
        self.z_limit = z_limit
        self.contamination = contamination
        self.min_rows = min_rows
        self.covariance: LedoitWolf | None = None
        self.edge = 0.0  # the distance the usual hours' most unusual ``contamination`` lie beyond
        self.median: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.floor = np.zeros(len(FEATURES))  # each pollutant's analyser uncertainty at its usual level
        self.trained_at: datetime | None = None
        self.trained_rows = 0  # the hours it learned from
        self.since = 0  # hours judged since

    def due(self, hour: datetime, waiting: int = 0) -> bool:
        """Time to (re)train before judging ``hour``: never trained (tried each hour until it has enough
        hours); a quarter of the hours it learned from are new since (:data:`RETRAIN_SHARE`: 3.5 days of
        a station reporting every hour, 18 hours early on, when it learned from its first 72); or ``hour``
        lies beyond the window it learned from (a station back after weeks). ``waiting``: hours held to be
        judged together, counted as judged. By data, not by the clock: a re-evaluation of sparse history
        retrains as often as the data change, not daily."""
        if self.trained_at is None:
            return True
        new = self.since + waiting
        return new >= RETRAIN_SHARE * self.trained_rows or hour - self.trained_at >= TRAIN_WINDOW

    def _logs(self, x: np.ndarray) -> np.ndarray:
        logs: np.ndarray = np.log(np.maximum(x, 0.0) + self.floor)
        return logs

    def _matrix(self, rows: list[dict[str, float | None]]) -> np.ndarray:
        x = np.array([[math.nan if r.get(f) is None else float(r[f]) for f in FEATURES] for r in rows])  # type: ignore[arg-type]
        if self.median is not None:
            x = np.where(np.isnan(x), self.median, x)
        return x

    def fit(self, rows: list[dict[str, float | None]], now: datetime) -> bool:
        if len(rows) < self.min_rows:
            return False
        x = np.array([[math.nan if r.get(f) is None else float(r[f]) for f in FEATURES] for r in rows])  # type: ignore[arg-type]
        measured = ~np.all(np.isnan(x), axis=0)  # a pollutant the station does not measure has no median
        self.median = np.zeros(len(FEATURES))
        self.median[measured] = np.nanmedian(x[:, measured], axis=0)
        x = np.where(np.isnan(x), self.median, x)
        mad = np.median(np.abs(x - self.median), axis=0)
        # no spread below what the analyser itself can tell apart (its uncertainty at the usual level): a
        # pollutant read in steps of 0.1 ppm that sat still for two weeks is not 100 σ out when it moves a step
        floor = np.array([DEFAULT[f].uncertainty(m) for f, m in zip(FEATURES, self.median, strict=True)])
        self.scale = np.maximum(1.4826 * mad, floor)
        self.floor = floor
        logs = self._logs(x)
        # the shape of its usual from all but its farthest tenth (a fault's or a rare episode's hours would
        # stretch it), the edge from every hour it learned from
        distance = np.sqrt(LedoitWolf().fit(logs).mahalanobis(logs))
        self.covariance = LedoitWolf().fit(logs[distance <= np.quantile(distance, 1 - TRIM)])
        distance = np.sqrt(self.covariance.mahalanobis(logs))
        self.edge = max(float(np.quantile(distance, 1 - self.contamination)), 1e-9)
        self.trained_at, self.trained_rows, self.since = now, len(rows), 0
        return True

    def check(self, row: dict[str, float | None]) -> Unusual | None:
        """None when normal (or not trained); otherwise the score and the unusual pollutants."""
        return self.check_many([row])[0]

    def check_many(self, rows: list[dict[str, float | None]]) -> list[Unusual | None]:
        """:meth:`check` of each row, the model asked once for all of them (a re-evaluation's hours)."""
        return [u if u.unusual else None for u in self.assess_many(rows)]

    def assess_many(self, rows: list[dict[str, float | None]]) -> list[Assessment]:
        """Each row's score and robust z per measured pollutant, unusual or not (what a station's
        peers were doing in the hour one of them is unusual: :func:`shared_with_peers`); empty before the
        model is trained."""
        if self.covariance is None or self.median is None or self.scale is None or not rows:
            return [Assessment(0.0, {}, False) for _ in rows]
        self.since += len(rows)
        x = self._matrix(rows)
        scores = (1 - np.sqrt(self.covariance.mahalanobis(self._logs(x))) / self.edge).tolist()
        z = (x - self.median) / self.scale
        far = np.abs(z)
        # the rows as Python numbers, each array operation once for all of them
        zs, peaks, orders = z.tolist(), far.max(axis=1).tolist(), np.argsort(-far, axis=1).tolist()
        times = ((x + self.floor) / (self.median + self.floor)).tolist()
        out: list[Assessment] = []
        for row, s, zi, peak, order, ti in zip(rows, scores, zs, peaks, orders, times, strict=True):
            # a pollutant far out on its own counts (robust z >= z_limit) even where the mix's distance,
            # spread over every pollutant, stays within the edge
            unusual = s < 0 or peak >= self.z_limit
            every = {FEATURES[i]: round(zi[i], 1) for i in order if row.get(FEATURES[i]) is not None}
            named = {f: v for f, v in every.items() if abs(v) >= 3} if unusual else {}
            # how many times its usual each pollutant reads (the analyser's uncertainty keeps a near-zero
            # usual from making any reading a large multiple)
            lift = {f: round(math.log(ti[i]), 3) for i, f in enumerate(FEATURES) if f in every}
            values = {f: float(v) for f in FEATURES if (v := row.get(f)) is not None}
            out.append(Assessment(s, named, unusual, every, lift, values))
        return out


@dataclass
class Assessment(Unusual):
    """A station-hour's mix against the station's usual: ``unusual`` as :meth:`MultivariateModel.check`
    says, ``features`` the pollutants it names (3 σ out; none in a usual hour); ``every`` the robust z of
    each measured pollutant, ``lift`` the log of each over its usual, ``values`` the readings."""

    unusual: bool
    every: dict[str, float] = field(default_factory=dict)
    lift: dict[str, float] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)  # what it read (PM as 24-hour means)


PEER_SHARE = 0.5  # a pollutant's deviation is the air's when the peers' median deviation is this share of it
PEER_UNUSUAL = 3.0  # ... or itself this many σ the same way
EPISODE_Z = 2.0  # the peers' median PM2.5 or PM10 this many σ above their usual: the zone's air is unusual
#: ... or at AirKorea's 매우나쁨 (24-hour means from PM10 151, PM2.5 76 µg/m³): a haze long enough to have
#: become the station's usual is still one
EPISODE_LEVEL = {p: float(BREAKPOINTS[p].edges[3]) for p in ("pm25", "pm10")}
EPISODE_APART = 6.0  # ... and then a station's own only where it stands this many σ apart from its peers
EPISODE_TIMES = 3.0  # ... and this many times over its usual against the peers' times over theirs


def shared_with_peers(own: Assessment, peers: list[Assessment]) -> bool:
    """A station's unusual mix is its zone's air, not its analysers, when its peers (at least two with the
    hour) deviate the same way from their own usual: each pollutant it is unusual in is, at the peers'
    median, at least :data:`PEER_UNUSUAL` σ or :data:`PEER_SHARE` of its own σ in the same direction.

    In a shared episode — the peers' median particulates :data:`EPISODE_Z` σ or more above their usual, or
    at the national 매우나쁨 (:data:`EPISODE_LEVEL`; a winter haze lifts every station at once, each by its
    own distance from its own usual, and a haze of days becomes the 14-day usual) — a pollutant is
    the station's own only where it stands :data:`EPISODE_APART` σ apart from the peers' median and also
    reads :data:`EPISODE_TIMES` times more (or less) over its usual than the peers over theirs: σ alone
    mislead there, a clean background site's narrow usual making the haze's CO 10 σ where a roadside
    station's wide one makes it 3 (a station falling while the zone rises is a local shower or a wind
    shift unless it is far out).

    A mix odd only by its combination (no pollutant 3 σ out) is the air's when at least half the peers are
    odd too, or when none of its pollutants stands :data:`PEER_UNUSUAL` σ apart from the peers' median —
    in a shared episode :data:`EPISODE_APART` σ (a haze changes the ratios between pollutants station by
    station; a failing analyser shows in its own pollutant)."""
    if len(peers) < 2:
        return False
    median = {
        pollutant: statistics.median(seen)
        for pollutant in FEATURES
        if len(seen := [p.every[pollutant] for p in peers if pollutant in p.every]) >= 2
    }
    level = {
        f: statistics.median(seen)
        for f in EPISODE_LEVEL
        if len(seen := [p.values[f] for p in peers if f in p.values]) >= 2
    }
    episode = any(
        median.get(f, 0.0) >= EPISODE_Z or level.get(f, 0.0) >= EPISODE_LEVEL[f] for f in EPISODE_LEVEL
    )
    if not own.features:
        if sum(p.unusual for p in peers) >= len(peers) / 2:
            return True
        apart = [abs(z - median[f]) for f, z in own.every.items() if f in median]
        return bool(apart) and max(apart) < (EPISODE_APART if episode else PEER_UNUSUAL)
    for pollutant, z in own.features.items():
        if pollutant not in median:
            return False
        peer = median[pollutant]
        if episode:
            lifts = [p.lift[pollutant] for p in peers if pollutant in p.lift]
            times = (
                abs(own.lift[pollutant] - statistics.median(lifts))
                if pollutant in own.lift and len(lifts) >= 2
                else math.inf
            )
            if abs(z - peer) < EPISODE_APART or times < math.log(EPISODE_TIMES):
                continue
        if peer * z <= 0 or abs(peer) < min(PEER_UNUSUAL, PEER_SHARE * abs(z)):
            return False
    return True
