"""How each payload becomes a row: table, columns and COPY types in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

from citywatch.contracts import messages as m


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]  # PostgreSQL types for binary COPY
    key: tuple[str, ...]  # returned by the idempotent insert; identifies a row
    key_at: tuple[int, ...] = ()  # positions of the key's columns in a row (derived)
    # a row's key (derived; C speed: it runs once per row)
    key_of: Callable[[Row], tuple[Any, ...]] = field(default=tuple, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_at", tuple(self.columns.index(c) for c in self.key))
        pick = itemgetter(*self.key_at)
        # itemgetter of one index returns the item, not a 1-tuple: a key is always a tuple
        object.__setattr__(self, "key_of", pick if len(self.key_at) > 1 else lambda row: (pick(row),))


Row = tuple[Any, ...]
_KEY = ("device_id", "time", "seq")
_HEAD = ("time", "device_id", "seq")
_HEAD_T = ("timestamptz", "text", "int8")

AIR_QUALITY = TableSpec(
    "air_quality",
    (*_HEAD, "pm10", "pm25", "o3", "no2", "co", "so2", "temp_c", "rh", "received_at"),
    (*_HEAD_T, *["float4"] * 8, "timestamptz"),
    _KEY,
)
PARKING = TableSpec(
    "parking_events",
    (*_HEAD, "lot_id", "space_id", "occupied", "reason", "battery_pct", "rssi_dbm", "received_at"),
    (*_HEAD_T, "text", "text", "bool", "text", "float4", "float4", "timestamptz"),
    _KEY,
)
PARKING_COUNTS = TableSpec(
    "parking_counts",
    (*_HEAD, "lot_id", "occupied", "capacity", "entries", "exits", "received_at"),
    (*_HEAD_T, "text", "int4", "int4", "int4", "int4", "timestamptz"),
    _KEY,
)
CCTV = TableSpec(
    "cctv_events",
    (
        *_HEAD,
        "event_id",
        "event_type",
        "confidence",
        "object_class",
        "bbox",
        "zone",
        "object_count",
        "plate",
        "received_at",
    ),
    (*_HEAD_T, "text", "text", "float4", "text", "float4[]", "text", "int4", "text", "timestamptz"),
    _KEY,
)
BUS = TableSpec(
    "bus_positions",
    (*_HEAD, "route_id", "lat", "lon", "speed_kmh", "heading_deg", "door_open", "received_at"),
    (*_HEAD_T, "text", "float8", "float8", "float4", "float4", "bool", "timestamptz"),
    _KEY,
)
STOP = TableSpec(
    "stop_requests",
    (
        *_HEAD,
        "request_id",
        "stop_id",
        "route_id",
        "passengers",
        "source",
        "wheelchair",
        "action",
        "received_at",
    ),
    (*_HEAD_T, "text", "text", "text", "int4", "text", "bool", "text", "timestamptz"),
    _KEY,
)
STATUS = TableSpec(
    "device_status",
    ("time", "device_id", "status", "reason", "received_at"),
    ("timestamptz", "text", "text", "text", "timestamptz"),
    ("device_id", "time", "status"),
)
ACKS = TableSpec(
    "driver_acks",
    (*_HEAD, "stop_id", "request_ids", "received_at"),
    (*_HEAD_T, "text", "text[]", "timestamptz"),
    _KEY,
)
DEAD_LETTERS = TableSpec(
    "dead_letters",
    ("received_at", "topic", "payload", "reason", "detail", "device_id", "digest"),
    ("timestamptz", "text", "bytea", "text", "text", "text", "bytea"),
    ("digest",),
)
STREAM_TABLES = (AIR_QUALITY, PARKING, PARKING_COUNTS, CCTV, BUS, STOP, STATUS, ACKS)


def _aq(p: m.AirQualityReading, r: datetime) -> Row:
    return (p.ts, p.device_id, p.seq, p.pm10, p.pm25, p.o3, p.no2, p.co, p.so2, p.temp_c, p.rh, r)


_AQ_VALUES = AIR_QUALITY.columns[3:-1]  # pm10 … rh


def aq_row(device_id: str, ts: datetime, seq: int, values: dict[str, float], r: datetime) -> Row:
    """The same row as :func:`_aq`, from a gateway pack's reading (citywatch.contracts.senml).
    Spelled out rather than looped over ``_AQ_VALUES``: this runs once per reading of every pack."""
    v = values.get
    return (
        ts,
        device_id,
        seq,
        v("pm10"),
        v("pm25"),
        v("o3"),
        v("no2"),
        v("co"),
        v("so2"),
        v("temp_c"),
        v("rh"),
        r,
    )


assert _AQ_VALUES == ("pm10", "pm25", "o3", "no2", "co", "so2", "temp_c", "rh")  # aq_row's order


def _parking(p: m.ParkingSpaceState, r: datetime) -> Row:
    return (
        p.ts,
        p.device_id,
        p.seq,
        p.lot_id,
        p.space_id,
        p.occupied,
        p.reason,
        p.battery_pct,
        p.rssi_dbm,
        r,
    )


def _parking_count(p: m.ParkingLotCount, r: datetime) -> Row:
    return (p.ts, p.device_id, p.seq, p.lot_id, p.occupied, p.capacity, p.entries, p.exits, r)


def _cctv(p: m.CctvEvent, r: datetime) -> Row:
    b = p.bbox
    return (
        p.ts,
        p.device_id,
        p.seq,
        p.event_id,
        p.event_type.value,
        p.confidence,
        p.object_class.value,
        [b.x, b.y, b.w, b.h],
        p.zone,
        p.object_count,
        p.plate,
        r,
    )


def _bus(p: m.BusPosition, r: datetime) -> Row:
    return (p.ts, p.device_id, p.seq, p.route_id, p.lat, p.lon, p.speed_kmh, p.heading_deg, p.door_open, r)


def _stop(p: m.StopRequest, r: datetime) -> Row:
    return (
        p.ts,
        p.device_id,
        p.seq,
        p.request_id,
        p.stop_id,
        p.route_id,
        p.passengers,
        p.source,
        p.wheelchair,
        p.action,
        r,
    )


def _ack(p: m.DriverAck, r: datetime) -> Row:
    return (p.ts, p.device_id, p.seq, p.stop_id, list(p.request_ids), r)


def _status(p: m.DeviceStatus, r: datetime) -> Row:
    return (p.ts, p.device_id, p.status, p.reason, r)


ROW_OF: dict[type[Any], tuple[TableSpec, Callable[[Any, datetime], Row]]] = {
    m.AirQualityReading: (AIR_QUALITY, _aq),
    m.ParkingSpaceState: (PARKING, _parking),
    m.ParkingLotCount: (PARKING_COUNTS, _parking_count),
    m.CctvEvent: (CCTV, _cctv),
    m.BusPosition: (BUS, _bus),
    m.StopRequest: (STOP, _stop),
    m.DeviceStatus: (STATUS, _status),
    m.DriverAck: (ACKS, _ack),
}
