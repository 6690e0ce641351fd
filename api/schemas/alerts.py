"""Alerts, their workflow, the shift report, the alarm load, maintenance windows and the rules in force."""

from __future__ import annotations

import dataclasses
import typing
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from alerts import model


def _from_alert_model() -> type[BaseModel]:
    """The API's view of :class:`alerts.model.Alert`, field for field (so the model, the table's columns
    and this schema cannot drift apart): severity and state by name, the explanation as JSON."""
    hints = typing.get_type_hints(model.Alert)
    shown: dict[str, Any] = {
        "severity": Literal["info", "warning", "critical"],
        "state": Literal["open", "acknowledged", "resolved"],
        "explanation": dict[str, Any],
        "id": int,
    }
    described = {
        "escalated_at": Field(description="when it last went up a level (or was reminded)"),
        "escalation_level": Field(
            0,
            description="0: not escalated; n: escalated n times (its rule's chain: supervisor, manager, ...)",
        ),
        "open_since": Field(
            None, description="re-opened or raised to a worse severity then (null: open since opened_at)"
        ),
    }
    fields: dict[str, Any] = {
        f.name: (shown.get(f.name, hints[f.name]), described.get(f.name, ...))
        for f in dataclasses.fields(model.Alert)
    }
    return create_model("AlertFields", **fields)


class Alert(_from_alert_model()):  # type: ignore[misc]
    """An alert: every field of the alert model, and what the store adds."""

    muted_by: int | None = Field(
        None, description="the maintenance window holding back this alert's notifications, if any"
    )


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
    runbook: dict[str, list[str]] | None = Field(
        description="the centre's own procedure for the rule, per language its steps (null: the packaged one)"
    )
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
        description="per domain: quality, cctv, parking, shapes, outage, broker, delivery"
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
    runbooks: dict[str, dict[str, list[str]]] = Field(
        description="citywatch's packaged procedures, by rule name or prefix, per language their steps (a CCTV "
        "incident's: cctv.incident's steps, then its event type's); a policy's own runbook wins where it is as "
        "specific"
    )
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


class ProcedureStep(BaseModel):
    step: int = Field(description="its number, from 1: what POST /alerts/{id}/procedure/{step} ticks")
    text: str
    done: bool
    by: str | None = Field(description="who ticked it")
    at: datetime | None = Field(description="when it was ticked")


class AlertProcedure(BaseModel):
    language: str = Field(description="the language of the steps (ko, en)")
    steps: list[ProcedureStep]


class AlertDetail(Alert):
    audit: list[AuditEntry]
    procedure: AlertProcedure | None = Field(
        None,
        description="what to do, as a checklist: its rule's procedure (packaged per rule and CCTV event type, "
        "or the centre's own), each step ticked or not",
    )
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


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    done: bool = Field(True, description="false: un-tick the step")


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
