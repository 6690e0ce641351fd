"""Versioned JSON payloads, one model per device stream.

Every data payload carries ``v`` (schema version), ``device_id`` (must equal the
topic's), ``ts`` (the device's own clock, ISO 8601 with offset) and ``seq`` (a
per-device counter, +1 per message, 0 after a reboot) so that loss can be
counted and redeliveries de-duplicated.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from citywatch.contracts.topics import DeviceKind, Stream

SCHEMA_VERSION = 1

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Label = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, str_max_length=256)

    v: Literal[1] = 1  # SCHEMA_VERSION
    device_id: Id
    ts: AwareDatetime


class Telemetry(_Payload):
    """Base of every data payload (everything but ``status``)."""

    seq: Annotated[int, Field(ge=0, le=2**62)]


class AirQualityReading(Telemetry):
    """Air-quality station, every 60 s by default. ``None`` = analyser off or calibrating."""

    pm10: Annotated[float, Field(ge=0, le=5000)] | None = None  # µg/m³
    pm25: Annotated[float, Field(ge=0, le=5000)] | None = None  # µg/m³
    o3: Annotated[float, Field(ge=0, le=10)] | None = None  # ppm
    no2: Annotated[float, Field(ge=0, le=10)] | None = None  # ppm
    co: Annotated[float, Field(ge=0, le=1000)] | None = None  # ppm
    so2: Annotated[float, Field(ge=0, le=10)] | None = None  # ppm
    temp_c: Annotated[float, Field(ge=-60, le=70)] | None = None  # °C
    rh: Annotated[float, Field(ge=0, le=100)] | None = None  # %


class ParkingSpaceState(Telemetry):
    """Parking-space sensor: on every change (``change``) and as a ``heartbeat``."""

    lot_id: Id
    space_id: Label
    occupied: bool
    reason: Literal["change", "heartbeat"] = "change"
    battery_pct: Annotated[float, Field(ge=0, le=100)] | None = None
    rssi_dbm: Annotated[float, Field(ge=-150, le=0)] | None = None


class ParkingLotCount(Telemetry):
    """A garage's barrier-gate counter, ``cw/v1/parking/{id}/count``, every few minutes: how many of its
    ``capacity`` spaces are taken as the counter reckons it, and optionally the cars in (``entries``) and
    out (``exits``) since its previous report. A faulty counter may count above its capacity or below
    zero: that is stored as sent and judged by the analytics (``parking.count_range``), not refused."""

    lot_id: Id
    occupied: Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
    capacity: Annotated[int, Field(ge=0, le=100_000)]
    entries: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    exits: Annotated[int, Field(ge=0, le=1_000_000)] | None = None


class CctvEventType(StrEnum):
    INTRUSION = "intrusion"
    LOITERING = "loitering"
    FALL = "fall"
    FIGHT = "fight"
    FIRE = "fire"
    SMOKE = "smoke"
    CROWD = "crowd"
    WRONG_WAY = "wrong_way"
    ILLEGAL_PARKING = "illegal_parking"
    CHILD_ZONE_ENTRY = "child_zone_entry"
    ABANDONED_OBJECT = "abandoned_object"


class ObjectClass(StrEnum):
    PERSON = "person"
    VEHICLE = "vehicle"
    BICYCLE = "bicycle"
    MOTORCYCLE = "motorcycle"
    ANIMAL = "animal"
    OBJECT = "object"
    FIRE = "fire"
    SMOKE = "smoke"
    UNKNOWN = "unknown"


class BoundingBox(BaseModel):
    """Normalised to the frame: x, y of the top-left corner, width, height, all 0-1."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    x: Unit
    y: Unit
    w: Unit
    h: Unit


class CctvEvent(Telemetry):
    """Video-analytics event from a camera; ``event_id`` is globally unique."""

    event_id: Annotated[str, StringConstraints(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
    event_type: CctvEventType
    confidence: Unit
    object_class: ObjectClass
    bbox: BoundingBox
    zone: Label
    object_count: Annotated[int, Field(ge=0, le=100_000)] | None = None
    # a licence plate read by ANPR (personal data: erased after CITYWATCH_PRIVACY_PLATE_RETENTION_H)
    plate: (
        Annotated[str, StringConstraints(min_length=2, max_length=16, pattern=r"^[0-9A-Za-z가-힣 -]+$")]
        | None
    ) = None


class BusPosition(Telemetry):
    """Bus position, every 5 s while in service."""

    route_id: Id
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    speed_kmh: Annotated[float, Field(ge=0, le=200)]
    heading_deg: Annotated[float, Field(ge=0, lt=360)]
    door_open: bool


class StopRequest(Telemetry):
    """Boarding bell: passengers waiting at ``stop_id`` for ``route_id``.

    Published by a stop's button panel (``source="button"``) or by the app
    gateway (``source="app"``); ``action="cancel"`` withdraws ``request_id``.
    """

    request_id: Annotated[str, StringConstraints(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
    stop_id: Id
    route_id: Id
    passengers: Annotated[int, Field(ge=1, le=100)] = 1
    source: Literal["app", "button"]
    wheelchair: bool = False
    action: Literal["request", "cancel"] = "request"


class DriverAck(Telemetry):
    """A bus terminal's acknowledgement of the boarding-bell alert for ``stop_id`` (uplink ``.../ack``)."""

    stop_id: Id
    request_ids: Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=100)] = []


class StopAlert(BaseModel):
    """One stop where passengers wait, as the driver terminal shows it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    stop_id: Id
    name: str
    passengers: Annotated[int, Field(ge=0)]
    wheelchair: bool
    eta_s: Annotated[float, Field(ge=0)] | None
    distance_m: Annotated[float, Field(ge=0)] | None
    request_ids: list[str]
    acknowledged: bool = False


class DriverAlert(BaseModel):
    """Downlink ``cw/v1/bus/{bus}/downlink/stops`` (QoS 1, retained): the terminal's whole current state —
    the stops ahead where passengers wait, nearest first; an empty list clears the screen."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    v: Literal[1] = 1
    bus_id: Id
    ts: AwareDatetime
    route_id: Id | None = None
    stops: list[StopAlert] = []


class RequestReply(BaseModel):
    """Downlink ``cw/v1/stop/{device}/downlink/reply``: what became of a request."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    v: Literal[1] = 1
    request_id: str
    ts: AwareDatetime
    status: Literal["assigned", "no_bus", "rejected", "cancelled", "fulfilled", "expired", "retargeted"]
    reason: str | None = None
    bus_id: Id | None = None
    eta_s: float | None = None


class DeviceStatus(_Payload):
    """Retained ``online`` on connect; ``offline`` as the MQTT Last Will (its
    ``ts`` is the connection time, when the will was registered) or on a clean
    disconnect."""

    status: Literal["online", "offline"]
    reason: Annotated[str, StringConstraints(max_length=128)] | None = None


_MODELS: dict[DeviceKind, type[Telemetry]] = {
    DeviceKind.AIR_QUALITY: AirQualityReading,
    DeviceKind.PARKING: ParkingSpaceState,
    DeviceKind.CCTV: CctvEvent,
    DeviceKind.BUS: BusPosition,
    DeviceKind.STOP: StopRequest,
}


def payload_model(kind: DeviceKind, stream: Stream) -> type[_Payload]:
    """The model a payload on ``cw/v1/{kind}/+/{stream}`` must satisfy."""
    if stream is Stream.STATUS:
        return DeviceStatus
    if stream is Stream.ACK:
        return DriverAck
    if stream is Stream.COUNT:
        return ParkingLotCount
    return _MODELS[kind]


def to_json(msg: BaseModel) -> bytes:
    """Serialise a payload the way devices send it (compact, ISO timestamps)."""
    return msg.model_dump_json(exclude_none=True).encode()


def utc_iso(ts: datetime) -> str:
    return ts.isoformat()
