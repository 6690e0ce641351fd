"""Telemetry, places (air-quality stations, parking lots), CCTV, buses and the boarding bell."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from geojson_pydantic import MultiPolygon, Polygon
from pydantic import BaseModel, ConfigDict, Field

from citywatch.contracts.topics import DeviceKind


class Point(BaseModel):
    t: datetime
    v: float | None


class Series(BaseModel):
    device_id: str
    metric: str
    unit: str
    aggregate: str
    bucket_s: float
    source: Literal["raw", "rollup_1h"] = Field(description="the readings, or the hourly rollup")
    start: datetime
    end: datetime
    points: list[Point]


class Latest(BaseModel):
    device_id: str
    kind: DeviceKind
    zone_id: str | None
    time: datetime
    values: dict[str, Any]


# -- air quality ------------------------------------------------------------------------
class Station(BaseModel):
    device_id: str
    name: str
    zone_id: str | None
    lat: float | None
    lon: float | None
    hour: datetime | None = Field(description="the hour the CAI was computed for")
    cai: int | None = Field(description="Comprehensive Air-quality Index 0-500")
    grade: str | None = Field(description="good | moderate | unhealthy | very_unhealthy")
    dominant: str | None
    sub_indices: dict[str, Any]
    grades: dict[str, str] = Field(
        default_factory=dict,
        description="per pollutant, the grade of its sub-index (good … very_unhealthy: 좋음 … 매우나쁨, as AirKorea "
        "bands it)",
    )
    pm10_24h: float | None = Field(None, description="PM10's 24-hour mean the CAI was computed from, µg/m³")
    pm25_24h: float | None = Field(None, description="PM2.5's 24-hour mean the CAI was computed from, µg/m³")
    latest_time: datetime | None
    latest: dict[str, float | None]


class Advisory(BaseModel):
    alert_id: int
    pollutant: str
    subject: str
    level: str | None
    severity: str
    state: str
    title: str
    issued_at: datetime
    last_seen: datetime
    lifted_at: datetime | None
    peak: float | None


class AqHour(BaseModel):
    hour: datetime
    cai: int | None
    grade: str | None
    dominant: str | None
    pm10_24h: float | None
    pm25_24h: float | None
    o3: float | None
    no2: float | None
    co: float | None
    so2: float | None
    sub_indices: dict[str, Any]


# -- parking ------------------------------------------------------------------------
LotStatus = Literal["open", "almost_full", "full", "unknown"]


class Lot(BaseModel):
    lot_id: str
    name: str
    zone_id: str | None
    lat: float
    lon: float
    capacity: int
    sensors: int = Field(description="space sensors (none in a garage that counts at its gates)")
    reporting: int = Field(
        description="sensors with a known state (a counted garage: 1 while its counter is sound)"
    )
    counted_by: str | None = Field(None, description="the garage counter whose count the lot's occupancy is")
    counter_fault: str | None = Field(
        None, description="the counter's live fault (parking.count_*): its count is not shown as the lot's"
    )
    occupied: int
    available: int
    occupancy_rate: float
    status: LotStatus
    observed_at: datetime | None


class Space(BaseModel):
    space_id: str
    device_id: str
    occupied: bool | None
    since: datetime | None
    battery_pct: float | None


class LotDetail(Lot):
    spaces: list[Space]


# -- cctv ------------------------------------------------------------------------
class CctvEvent(BaseModel):
    time: datetime
    device_id: str
    event_id: str
    event_type: str
    confidence: float
    object_class: str
    bbox: list[float]
    zone: str
    object_count: int | None


class ZoneCount(BaseModel):
    zone: str
    event_type: str
    events: int
    cameras: int


# -- buses ------------------------------------------------------------------------
class BusPosition(BaseModel):
    bus_id: str
    name: str
    route_id: str
    time: datetime
    lat: float
    lon: float
    speed_kmh: float
    heading_deg: float
    door_open: bool
    age_s: float


class BellRequest(BaseModel):
    request_id: str
    device_id: str
    stop_id: str
    route_id: str
    passengers: int
    wheelchair: bool
    status: str
    bus_id: str | None
    eta_s: float | None
    reason: str | None
    requested_at: datetime
    updated_at: datetime
    waiting_s: float


class PassStats(BaseModel):
    day: datetime
    route_id: str
    passes: int = Field(description="bus passages at stops with a waiting request")
    served: int
    no_stop_passes: int
    no_stop_rate: float
    buses_passing: list[str]


# -- alerts ------------------------------------------------------------------------


class ZoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, examples=["장안동"])
    boundary: Polygon | MultiPolygon | None = Field(
        None, description="the zone's boundary, a GeoJSON Polygon or MultiPolygon (lon, lat; rings closed)"
    )
    attribution: str | None = Field(
        None, max_length=300, description="the boundary's source, as its licence asks it shown on a map"
    )


class Zone(BaseModel):
    zone_id: str
    name: str
    boundary: dict[str, Any] | None
    attribution: str | None = Field(None, description="the boundary's source, shown on the map")
    stations: int = Field(description="air-quality stations in the zone")
    lots: int
    devices: int = Field(description="devices of every kind")


class LotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    capacity: int = Field(ge=0, le=100_000)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    zone_id: str | None = None
