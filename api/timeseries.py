"""Server-side downsampling of telemetry (pure): which metrics exist, and which bucket fits.

A series request names a device, a metric, a range, an aggregate and the most
points it wants; :func:`pick_bucket` chooses the smallest "nice" bucket that
keeps the answer within that many points, and the SQL groups by
``time_bucket(bucket, time)`` with the aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Aggregate(StrEnum):
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    SUM = "sum"
    COUNT = "count"
    LAST = "last"
    FIRST = "first"


@dataclass(frozen=True, slots=True)
class Metric:
    table: str
    expr: str  # SQL over the table's columns
    unit: str


#: metric name -> where it lives, per device kind
METRICS: dict[str, dict[str, Metric]] = {
    "aq": {
        "pm10": Metric("air_quality", "pm10", "µg/m³"),
        "pm25": Metric("air_quality", "pm25", "µg/m³"),
        "o3": Metric("air_quality", "o3", "ppm"),
        "no2": Metric("air_quality", "no2", "ppm"),
        "co": Metric("air_quality", "co", "ppm"),
        "so2": Metric("air_quality", "so2", "ppm"),
        "temp_c": Metric("air_quality", "temp_c", "°C"),
        "rh": Metric("air_quality", "rh", "%"),
    },
    "parking": {
        "occupied": Metric("parking_events", "occupied::int", "0/1"),
        "battery_pct": Metric("parking_events", "battery_pct", "%"),
        "rssi_dbm": Metric("parking_events", "rssi_dbm", "dBm"),
    },
    "cctv": {
        "events": Metric("cctv_events", "1", "events"),
        "confidence": Metric("cctv_events", "confidence", "0..1"),
        "object_count": Metric("cctv_events", "object_count", "objects"),
    },
    "bus": {
        "speed_kmh": Metric("bus_positions", "speed_kmh", "km/h"),
        "door_open": Metric("bus_positions", "door_open::int", "0/1"),
    },
    "stop": {
        "passengers": Metric("stop_requests", "passengers", "people"),
        "requests": Metric("stop_requests", "1", "requests"),
    },
}

#: bucket widths a chart reads well at
NICE_BUCKETS: tuple[timedelta, ...] = tuple(
    timedelta(seconds=s)
    for s in (
        1, 2, 5, 10, 15, 30,
        60, 120, 300, 600, 900, 1800,
        3600, 7200, 10800, 21600, 43200,
        86400, 2 * 86400, 7 * 86400, 30 * 86400,
    )
)  # fmt: skip


def pick_bucket(start: datetime, end: datetime, max_points: int) -> timedelta:
    """The smallest nice bucket with at most ``max_points`` buckets over [start, end)."""
    if end <= start:
        raise ValueError("the range ends before it starts")
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    span = end - start
    for b in NICE_BUCKETS:
        if span / b <= max_points:
            return b
    return NICE_BUCKETS[-1]


def agg_sql(agg: Aggregate, expr: str) -> str:
    if agg in (Aggregate.LAST, Aggregate.FIRST):
        return f"{agg.value}({expr}, time)"  # TimescaleDB's first()/last()
    if agg is Aggregate.COUNT:
        return f"count({expr})"
    return f"{agg.value}({expr})::double precision"
