"""What an air-quality station's analysers can measure: per pollutant, the measurement range.

A device's own ranges go in its registry entry, ``meta.instruments``::

    {"o3": {"full_scale": 0.5}, "co": {"low": 0, "full_scale": 50}}

A pollutant it does not name keeps the default: the ranges of the analysers Korean monitoring stations
commonly run (β-ray PM analysers 0–1,000 µg/m³; UV-photometric O3, chemiluminescent NO2 and
UV-fluorescent SO2 analysers 0–1 ppm; NDIR CO 0–50 ppm). A reading at or above its analyser's full
scale is not the air's value but the instrument's ceiling (``aq.saturation``), and feeds no advisory.

The uncertainty of a reading (``uncertainty``) is the analyser's stated accuracy, a fraction of the
reading plus an absolute part (β-ray PM: ±10 % + 5 µg/m³): two analysers agree when their readings
differ by less than their combined uncertainty.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

POLLUTANTS = ("pm25", "pm10", "o3", "no2", "co", "so2")
UNITS: dict[str, str] = {
    "pm25": "µg/m³",
    "pm10": "µg/m³",
    "o3": "ppm",
    "no2": "ppm",
    "co": "ppm",
    "so2": "ppm",
}
#: how a pollutant is written in a sentence, in every language (as AirKorea's tables write them)
SYMBOLS: dict[str, str] = {
    "pm25": "PM2.5",
    "pm10": "PM10",
    "o3": "O3",
    "no2": "NO2",
    "co": "CO",
    "so2": "SO2",
}


class Range(BaseModel):
    """One analyser's measurement range and accuracy."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    low: float = Field(0.0, ge=0)
    full_scale: float = Field(gt=0)
    relative_error: float = Field(0.1, ge=0, le=1)  # ± this fraction of the reading
    absolute_error: float = Field(0.0, ge=0)  # ± this much, in the pollutant's unit

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.full_scale <= self.low:
            raise ValueError(f"full_scale {self.full_scale} must be above low {self.low}")
        return self

    def uncertainty(self, value: float) -> float:
        return self.relative_error * abs(value) + self.absolute_error

    def saturated(self, value: float) -> bool:
        """At the analyser's ceiling: what it reads is no longer the air."""
        return value >= self.full_scale * (1 - 1e-6)


DEFAULT: dict[str, Range] = {
    "pm25": Range(full_scale=1000, absolute_error=5),
    "pm10": Range(full_scale=1000, absolute_error=5),
    "o3": Range(full_scale=1, absolute_error=0.005),
    "no2": Range(full_scale=1, absolute_error=0.005),
    "so2": Range(full_scale=1, absolute_error=0.005),
    "co": Range(full_scale=50, absolute_error=0.1),
}


class Instruments(BaseModel):
    """A station's analysers, as its registry entry gives them (``meta.instruments``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pm25: Range | None = None
    pm10: Range | None = None
    o3: Range | None = None
    no2: Range | None = None
    co: Range | None = None
    so2: Range | None = None

    def range(self, pollutant: str) -> Range:
        own: Range | None = getattr(self, pollutant)
        return own if own is not None else DEFAULT[pollutant]


def combined_uncertainty(a: Range, va: float, b: Range, vb: float) -> float:
    """How far two readings by analysers ``a`` and ``b`` may differ and still agree."""
    return math.hypot(a.uncertainty(va), b.uncertainty(vb))
