"""Response and request bodies of the control-centre API (the OpenAPI schema is built from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from citywatch.contracts.topics import DeviceKind

RoleName = Literal["viewer", "operator", "admin"]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        None, description="pass as `cursor` for the next page; absent on the last"
    )


# -- auth ------------------------------------------------------------------------
class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds")
    role: RoleName


class Me(BaseModel):
    name: str
    role: RoleName
    via: Literal["token", "key"]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=r"^[A-Za-z0-9_.@-]{2,64}$", examples=["kim.operator"])
    password: str = Field(min_length=10, max_length=256)
    role: RoleName = "viewer"
    full_name: str = Field("", max_length=200)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(None, min_length=10, max_length=256)
    role: RoleName | None = None
    full_name: str | None = Field(None, max_length=200)
    disabled: bool | None = None


class User(BaseModel):
    username: str
    full_name: str
    role: RoleName
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, examples=["grafana", "neighbouring city: Suwon"])
    role: RoleName = "viewer"
    expires_at: datetime | None = None


class ApiKey(BaseModel):
    prefix: str
    name: str
    role: RoleName
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewApiKey(ApiKey):
    key: str = Field(description="the whole key; shown only now, store it safely")


# -- devices ------------------------------------------------------------------------
DeviceState = Literal["online", "offline", "never_seen", "retired"]


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
    resets: int
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
    meta: dict[str, Any] = Field(default_factory=dict)


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


class BrokerCredentials(BaseModel):
    device_id: str
    username: str
    password: str = Field(description="shown only now")
    host: str
    port: int
    topic_prefix: str


# -- telemetry ------------------------------------------------------------------------
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
    sensors: int
    reporting: int = Field(description="sensors with a known state")
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
class Alert(BaseModel):
    id: int
    key: str
    rule: str
    subject: str
    kind: str
    severity: Literal["info", "warning", "critical"]
    state: Literal["open", "acknowledged", "resolved"]
    title: str
    explanation: dict[str, Any]
    opened_at: datetime
    last_seen: datetime
    count: int
    peak: float | None
    condition_active: bool
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    assignee: str | None
    escalated_at: datetime | None = Field(description="when it last went up a level (or was reminded)")
    escalation_level: int = Field(
        0, description="0: not escalated; n: escalated n times (its rule's chain: supervisor, manager, ...)"
    )
    reopen_count: int
    open_since: datetime | None = Field(
        None, description="re-opened or raised to a worse severity then (null: open since opened_at)"
    )
    muted_by: int | None = Field(
        None, description="the maintenance window holding back this alert's notifications, if any"
    )
    runbook: str | None = Field(None, description="what to do: the centre's procedure for its rule")


class ReportRule(BaseModel):
    rule: str
    opened: int
    worst: Literal["info", "warning", "critical"]
    still_open: int


class ReportOpen(BaseModel):
    id: int
    severity: Literal["info", "warning", "critical"]
    state: Literal["open", "acknowledged"]
    rule: str
    subject: str
    title: str
    opened_at: datetime
    assignee: str | None


class ReportOperator(BaseModel):
    actor: str
    acknowledged: int
    resolved: int
    commented: int


class ReportEpisode(BaseModel):
    id: int = Field(description="the alert (its detail, audit trail and comments: GET /api/v1/alerts/{id})")
    rule: str
    subject: str
    title: str
    severity: Literal["info", "warning", "critical"]
    since: datetime
    until: datetime | None = Field(description="null: still on at the end of the range")
    peak: float | None
    involved: list[str] = Field(
        description="the devices it stands for: an incident's cameras (the first one first), an outage's devices,"
        " the stations of a zone's unusual pollutant mix; empty for a station's advisory"
    )


class ReportWindow(BaseModel):
    id: int
    subject: str
    reason: str
    starts_at: datetime
    until: datetime
    created_by: str


class ReportSink(BaseModel):
    sink: str
    sent: int
    held_back: int = Field(description="by the sink's max_per_hour (counted in a digest)")
    not_routed: int


class LoadPeak(BaseModel):
    annunciations: int
    start: datetime


class LoadFlood(BaseModel):
    start: datetime
    end: datetime
    annunciations: int
    peak_per_10min: int


class LoadActor(BaseModel):
    rule: str
    subject: str
    annunciations: int
    share: float = Field(description="of all annunciations in the range")


class LoadChatter(BaseModel):
    rule: str
    subject: str
    most_in_60s: int
    at: datetime = Field(description="when the busiest 60 s began")


class AlarmLoad(BaseModel):
    """Alarm-management performance (ANSI/ISA-18.2, EEMUA 191) of what reached the operators: an
    annunciation is an alert opening or re-opening, not muted by maintenance."""

    start: datetime
    end: datetime
    annunciations: int
    operators: int = Field(description="sharing the load: the rates, ratings and floods are per operator")
    per_10min: float = Field(
        description="mean per operator; about 1 is very likely acceptable, about 2 the most manageable"
    )
    per_hour: float
    per_day: float
    rating: Literal["very likely acceptable", "manageable", "over-demanding"]
    warning_or_worse: int = Field(description="of the annunciations, warning or critical: the alarms")
    warning_or_worse_per_10min: float = Field(description="their mean rate per operator")
    warning_or_worse_rating: Literal["very likely acceptable", "manageable", "over-demanding"]
    peak_10min: LoadPeak
    floods: list[LoadFlood] = Field(description="more than 10 in 10 minutes, lasting while at least 5")
    time_in_flood: float = Field(description="share of the range (aim: under 0.01)")
    top: list[LoadActor] = Field(description="the 10 most frequent alerts (rule + subject): tune these first")
    top_share: float = Field(description="their share of all annunciations")
    chattering: list[LoadChatter] = Field(description="3 or more annunciations within 60 s")
    severity_mix: dict[str, float] = Field(description="share of info, warning, critical")
    severity_guide: dict[str, float] = Field(description="the guideline mix: 0.80 / 0.15 / 0.05")
    stale: int = Field(description="alerts live for more than 24 h at the end of the range")
    min_severity: Literal["info", "warning", "critical"] = Field(
        "info", description="the least severe alerts counted (info: all of them)"
    )


class ShiftReport(BaseModel):
    start: datetime
    end: datetime
    opened: int
    escalated: int
    escalated_further: int = Field(description="of those escalated, how many went up to level 2 or beyond")
    opened_by_severity: dict[str, int]
    mtta_s: float | None
    mttr_s: float | None
    by_rule: list[ReportRule] = Field(description="alerts opened in the range, by rule (worst first)")
    still_open: list[ReportOpen] = Field(description="what the next shift inherits (most severe first)")
    operators: list[ReportOperator] = Field(description="who acknowledged, resolved, commented how many")
    episodes: list[ReportEpisode] = Field(
        description="zone outages, air-quality advisories, zone-wide unusual pollutant mixes and multi-camera"
        " incidents in the range"
    )
    maintenance: list[ReportWindow]
    notifications: list[ReportSink]
    load: AlarmLoad = Field(description="the alarm load of the range (ISA-18.2 / EEMUA 191)")


class AuditEntry(BaseModel):
    at: datetime
    action: str
    actor: str
    from_state: str | None
    to_state: str
    detail: str


class PolicyView(BaseModel):
    auto_resolve: bool
    reopen_window_s: float
    escalate_after_s: float | None
    escalate_again_after_s: list[float] = Field(
        description="still unacknowledged this long after each level: the next level (2, 3, ...)"
    )
    runbook: str
    remind_after_s: float | None


class RulesInForce(BaseModel):
    digest: str = Field(description="the fingerprint of the rules text the analytics service runs")
    same_as_file: bool = Field(description="false: it has not taken the file's latest edit (or refused it)")
    refused: str | None = Field(description="why it refused the file's latest edit, if it did")
    reported_at: datetime


class RulesView(BaseModel):
    source: str = Field(description="the rules file in force")
    digest: str = Field(description="the fingerprint of the file as it reads now")
    analytics: RulesInForce | None = Field(
        description="what the analytics service runs (null: not reported yet)"
    )
    thresholds: dict[str, dict[str, Any]] = Field(
        description="per domain: quality, cctv, parking, shapes, outage, delivery"
    )
    zones: dict[str, dict[str, dict[str, Any]]] = Field(
        description="per zone, the settings of its own (quality, parking, cctv) over the city's"
    )
    devices: dict[str, dict[str, dict[str, Any]]] = Field(
        description="per device, the settings of its own (quality for a station, parking for a sensor, cctv for"
        " a camera) over its zone's"
    )
    default_policy: PolicyView = Field(description="for rules the file names no policy for")
    policies: dict[str, PolicyView] = Field(description="by rule name or prefix (the longest match wins)")
    notifications: dict[str, dict[str, Any]] = Field(
        description="what each sink takes (webhook URLs shown without path and query)"
    )


class EarlierAlert(BaseModel):
    id: int
    opened_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    count: int
    note: str | None = Field(description="the note it was resolved with, if an operator resolved it")


class AlertDetail(Alert):
    audit: list[AuditEntry]
    earlier: list[EarlierAlert] = Field(
        default_factory=list,
        description="the same rule on the same subject before (newest first, 10 at most)",
    )


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=2000)


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[int] = Field(min_length=1, max_length=500, description="the alerts, as selected in the console")
    action: Literal["acknowledge", "resolve"]
    note: str = Field("", max_length=2000, description="the resolution note (resolve)")


class BulkResult(BaseModel):
    id: int
    ok: bool
    state: Literal["open", "acknowledged", "resolved"] | None = Field(description="its state now")
    error: str | None = Field(None, description="why this one was not done (the others still were)")


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assignee: str | None = Field(max_length=64, description="user name, or null to unassign")


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)


class MaintenanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(
        min_length=1,
        max_length=128,
        description="a device id, or `zone:{zone_id}` for every device of a zone",
    )
    rule_prefix: str | None = Field(
        None,
        max_length=64,
        description="only the rules under this prefix (`aq`, `device.offline`); null: all",
    )
    starts_at: datetime | None = Field(None, description="default: now")
    ends_at: datetime | None = Field(None, description="give this or `duration_min`")
    duration_min: int | None = Field(None, ge=1, description="give this or `ends_at`")
    reason: str = Field(min_length=1, max_length=500, description="why (shown on every muted alert)")


class MaintenanceChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ends_at: datetime | None = Field(None, description="the new end; give this or `extend_min`")
    extend_min: int | None = Field(None, ge=1, description="minutes added to the current end")
    reason: str | None = Field(None, min_length=1, max_length=500, description="a new reason (optional)")


class Maintenance(BaseModel):
    id: int
    subject: str
    rule_prefix: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    ended_at: datetime | None
    ended_by: str | None
    changed_at: datetime | None = Field(None, description="when its end or reason was last changed")
    changed_by: str | None = None
    active: bool
    muted_alerts: int = Field(description="live alerts whose notifications it holds back now")


class AlertStats(BaseModel):
    open_by_severity: dict[str, int]
    acknowledged: int
    opened_in_range: int
    resolved_in_range: int
    mtta_s: float | None = Field(description="mean time to acknowledge, alerts opened in the range")
    mttr_s: float | None = Field(description="mean time to resolve, alerts opened in the range")


# -- platform ------------------------------------------------------------------------
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
