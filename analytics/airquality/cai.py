"""통합대기환경지수 (CAI, Comprehensive Air-quality Index), the Korean index (pure).

Per pollutant: truncate the concentration to its reporting resolution, find its
band, and interpolate linearly ``I = (I_HI - I_LO) / (BP_HI - BP_LO) * (C - BP_LO) + I_LO``.
The station's CAI is the largest sub-index. PM10 and PM2.5 use 24-hour means,
the gases 1-hour means. Bands: 0-50 good, 51-100 moderate, 101-250 unhealthy,
251-500 very unhealthy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from functools import lru_cache


class Grade(StrEnum):
    GOOD = "good"  # 좋음
    MODERATE = "moderate"  # 보통
    UNHEALTHY = "unhealthy"  # 나쁨
    VERY_UNHEALTHY = "very_unhealthy"  # 매우나쁨


INDEX_BANDS: tuple[tuple[int, int, Grade], ...] = (
    (0, 50, Grade.GOOD),
    (51, 100, Grade.MODERATE),
    (101, 250, Grade.UNHEALTHY),
    (251, 500, Grade.VERY_UNHEALTHY),
)


@dataclass(frozen=True, slots=True)
class Breakpoints:
    edges: tuple[str, str, str, str, str]  # lower edges of the four bands, then the top (as decimals)
    resolution: str  # truncation step
    averaging: str  # "1h" or "24h"
    unit: str


BREAKPOINTS: dict[str, Breakpoints] = {
    "so2": Breakpoints(("0", "0.021", "0.051", "0.151", "1"), "0.001", "1h", "ppm"),
    "co": Breakpoints(("0", "2.01", "9.01", "15.01", "50"), "0.01", "1h", "ppm"),
    "o3": Breakpoints(("0", "0.031", "0.091", "0.151", "0.6"), "0.001", "1h", "ppm"),
    "no2": Breakpoints(("0", "0.031", "0.061", "0.201", "2"), "0.001", "1h", "ppm"),
    "pm10": Breakpoints(("0", "31", "81", "151", "600"), "1", "24h", "µg/m³"),
    "pm25": Breakpoints(("0", "16", "36", "76", "500"), "1", "24h", "µg/m³"),
}


#: per pollutant, its band edges and truncation step as decimals (made once: a station-hour needs six)
_DECIMAL = {p: ([Decimal(e) for e in bp.edges], Decimal(bp.resolution)) for p, bp in BREAKPOINTS.items()}
_ONE = Decimal(1)


@lru_cache(maxsize=1 << 16)  # an analyser's hourly means repeat (its resolution); a station-hour needs six
def sub_index(pollutant: str, concentration: float | None) -> int | None:
    """The pollutant's index (0-500), or None when there is no valid concentration."""
    if concentration is None or not math.isfinite(concentration) or concentration < 0:
        return None
    edges, step = _DECIMAL[pollutant]
    c = Decimal(repr(concentration)).quantize(step, rounding=ROUND_DOWN)
    if c >= edges[-1]:
        return 500
    for band, (i_lo, i_hi, _grade) in enumerate(INDEX_BANDS):
        if band == len(INDEX_BANDS) - 1 or c < edges[band + 1]:
            bp_lo = edges[band]
            bp_hi = edges[band + 1] - step if band < len(INDEX_BANDS) - 1 else edges[-1]
            value = Decimal(i_hi - i_lo) / (bp_hi - bp_lo) * (c - bp_lo) + i_lo
            return int(value.quantize(_ONE, rounding="ROUND_HALF_UP"))
    return 500  # pragma: no cover - the loop covers every value below the top


def grade(index: int) -> Grade:
    for lo, hi, g in INDEX_BANDS:
        if lo <= index <= hi:
            return g
    return Grade.VERY_UNHEALTHY


@dataclass(frozen=True, slots=True)
class Cai:
    value: int
    grade: Grade
    dominant: str
    sub_indices: dict[str, int]


def cai(concentrations: dict[str, float | None]) -> Cai | None:
    """The station's CAI from averaged concentrations (PM: 24 h, gases: 1 h); None if nothing is valid."""
    subs = {
        p: s for p, c in concentrations.items() if p in BREAKPOINTS and (s := sub_index(p, c)) is not None
    }
    if not subs:
        return None
    dominant = max(subs, key=lambda p: subs[p])
    return Cai(subs[dominant], grade(subs[dominant]), dominant, subs)
