"""The device registry and the platform's own health, as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from citywatch.contracts.instruments import Instruments
from citywatch.contracts.topics import DeviceKind

DeviceState = Literal["online", "offline", "never_seen", "retired"]


def _checked_meta(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """``meta.instruments``, where given, is an air-quality station's analysers
    (:mod:`citywatch.contracts.instruments`): refused unless valid, stored as given."""
    if meta and "instruments" in meta:
        Instruments.model_validate(meta["instruments"])
    return meta


class Device(BaseModel):
    device_id: str
    kind: DeviceKind
    name: str
    zone_id: str | None
    lot_id: str | None
    lat: float | None
    lon: float | None
    status: Literal["active", "retired"]
    state: DeviceState = Field(description="online: heard from within its expected interval")
    last_seen: datetime | None
    expected_interval_s: float | None
    battery_pct: float | None
    received: int = Field(description="messages received")
    gaps: int = Field(description="messages the device sent that never arrived")
    loss_pct: float | None


class StreamStats(BaseModel):
    stream: str
    received: int
    gaps: int
    resets: int = Field(description="restarts of its counter (reboots)")
    jumps: int = Field(description="counter jumps too far ahead for the time that passed: corrupt, not loss")
    last_seq: int
    last_time: datetime
    last_received_at: datetime


class DeviceDetail(Device):
    meta: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    credential_version: int
    streams: list[StreamStats]
    dead_letters_24h: int
    open_alerts: int


class DeviceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", examples=["aq-0042"])
    kind: DeviceKind
    name: str = Field(min_length=1, max_length=200)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    zone_id: str | None = None
    lot_id: str | None = None
    expected_interval_s: float | None = Field(None, gt=0)
    meta: dict[str, Any] = Field(
        default_factory=dict,
        description="free-form; ``instruments``: an air-quality station's analysers' ranges",
    )

    _meta = field_validator("meta")(_checked_meta)


class DevicePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    zone_id: str | None = None
    lot_id: str | None = None
    expected_interval_s: float | None = Field(None, gt=0)
    meta: dict[str, Any] | None = None
    status: Literal["active", "retired"] | None = None

    _meta = field_validator("meta")(_checked_meta)


class BrokerCredentials(BaseModel):
    device_id: str
    username: str
    password: str = Field(description="shown only now")
    host: str
    port: int
    topic_prefix: str


# -- telemetry ------------------------------------------------------------------------
class IngestCounters(BaseModel):
    worker: str
    received: int
    written: int
    duplicates: int
    dead_lettered: int
    batches: int
    updated_at: datetime


class IngestHealth(BaseModel):
    received: int
    written: int
    duplicates: int
    dead_lettered: int
    gaps: int
    resets: int
    jumps: int
    workers: list[IngestCounters]
    dead_letters_by_reason: dict[str, int]


class DeadLetter(BaseModel):
    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    device_id: str | None
    payload_preview: str = Field(description="first 512 bytes, undecodable bytes escaped")
    payload_bytes: int


class DeviceErrors(BaseModel):
    device_id: str
    dead_letters: int
    gaps: int
    last_error_at: datetime | None
    reasons: dict[str, int]


class Check(BaseModel):
    ok: bool
    detail: str
    latency_ms: float


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, Check]


class RefusedRow(BaseModel):
    row: int = Field(description="1-based, as a spreadsheet counts its data rows")
    device_id: str | None
    errors: list[str]


class ImportReport(BaseModel):
    rows: int
    created: int
    updated: int
    unchanged: int
    refused: list[RefusedRow]
