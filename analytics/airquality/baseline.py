"""Learned baselines for air quality (pure apart from scikit-learn).

* :class:`SeasonalBaseline` — per station and pollutant, what is normal for this
  hour of the day on a weekday or a weekend day: the median and MAD of the last
  ``keep`` values seen in that slot. ``score`` is a robust z-score.
* :class:`MultivariateModel` — an IsolationForest over a station's hourly
  pollutant vector, retrained periodically; when it calls an hour unusual it
  also says which pollutants were unusual and by how much (robust z against
  the training data), so the finding explains itself.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sklearn.ensemble import IsolationForest

from citywatch.contracts.instruments import DEFAULT
from citywatch.localtime import SEOUL

FEATURES = ("pm10", "pm25", "o3", "no2", "co", "so2")


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
    score: float  # IsolationForest decision function: below 0 is anomalous (far-out values count too)
    features: dict[str, float]  # robust z per pollutant, the most unusual first


class MultivariateModel:
    """IsolationForest over hourly pollutant vectors; missing values are imputed with the training median."""

    def __init__(
        self, seed: int = 0, contamination: float = 0.01, min_rows: int = 72, z_limit: float = 8.0
    ) -> None:
        self.seed = seed
        self.z_limit = z_limit
        self.contamination = contamination
        self.min_rows = min_rows
        self.forest: IsolationForest | None = None
        self.median: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.trained_at: datetime | None = None

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
        self.forest = IsolationForest(
            n_estimators=100, contamination=self.contamination, random_state=self.seed
        )
        self.forest.fit(x)
        self.trained_at = now
        return True

    def check(self, row: dict[str, float | None]) -> Unusual | None:
        """None when normal (or not trained); otherwise the score and the unusual pollutants."""
        return self.check_many([row])[0]

    def check_many(self, rows: list[dict[str, float | None]]) -> list[Unusual | None]:
        """:meth:`check` of each row, the forest asked once for all of them (a re-evaluation's hours)."""
        if self.forest is None or self.median is None or self.scale is None or not rows:
            return [None] * len(rows)
        x = self._matrix(rows)
        scores = self.forest.decision_function(x)
        out: list[Unusual | None] = []
        for xi, s in zip(x, scores, strict=True):
            z = (xi - self.median) / self.scale
            # a forest isolates a value beyond everything it was trained on no faster than the training
            # extremes, so far-out values count on their own (robust z >= z_limit) beside its verdict
            if s >= 0 and float(np.max(np.abs(z))) < self.z_limit:
                out.append(None)
                continue
            order = np.argsort(-np.abs(z))
            out.append(
                Unusual(float(s), {FEATURES[i]: round(float(z[i]), 1) for i in order if abs(z[i]) >= 3})
            )
        return out
