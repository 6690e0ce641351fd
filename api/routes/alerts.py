"""Alerts: list, detail with explanation and audit trail, the operator workflow, and the live stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from alerts import queries, store
from alerts.load import alarm_load
from alerts.model import (
    Acknowledge,
    Assign,
    Comment,
    Confirm,
    Event,
    IllegalTransition,
    Resolve,
    Severity,
    Step,
    involved,
)
from alerts.runbooks import Procedure, procedure, ticked
from api.catalogue import messages
from api.common import decode_cursor, encode_cursor, time_range, utc
from api.deps import Language, Operator, State, Viewer
from api.problems import Problem, responses
from api.report import report_markdown
from api.schemas import (
    AlarmLoad,
    Alert,
    AlertDetail,
    AlertStats,
    AssignIn,
    BulkIn,
    BulkResult,
    CommentIn,
    Page,
    ResolveIn,
    ShiftReport,
    StepIn,
)
from api.stream import matches
from citywatch.i18n import Text

router = APIRouter(prefix="/alerts", tags=["alerts"])

StateName = Literal["open", "acknowledged", "resolved"]
SeverityName = Literal["info", "warning", "critical"]


def _shape(st: State, r: dict[str, Any], lang: str) -> dict[str, Any]:
    """An alert row as the API gives it: its severity by name, its title and why in the reader's language."""
    return {
        **r,
        "severity": Severity(r["severity"]).label,
        "title": st.names.title(r, lang),
        "explanation": st.names.explained(r.get("explanation"), lang),
    }


@router.get(
    "",
    response_model=Page[Alert],
    summary="Alerts, most severe and newest first",
    responses=responses(401, 422),
)
def list_alerts(
    st: State,
    _who: Viewer,
    lang: Language,
    state: Annotated[list[StateName] | None, Query(description="default: open and acknowledged")] = None,
    min_severity: SeverityName | None = None,
    kind: Annotated[list[str] | None, Query()] = None,
    rule: Annotated[str | None, Query(description="a rule, or a prefix such as `aq.`")] = None,
    subject: str | None = None,
    zone: Annotated[str | None, Query(description="alerts about the zone or a device in it")] = None,
    assignee: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    after: list[Any] = decode_cursor(cursor, 3) if cursor else [None, None, None]
    rows = queries.page(
        st.db,
        states=list(state or ["open", "acknowledged"]),
        min_severity=Severity[min_severity.upper()] if min_severity else Severity.INFO,
        kind=kind, rule=rule, subject=subject, assignee=assignee, zone=zone, limit=limit + 1,
        after=(after[0], utc(datetime.fromisoformat(after[1])) if after[1] else None, after[2]),
    )  # fmt: skip
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return {
        "items": [_shape(st, r, lang) for r in rows],
        "next_cursor": encode_cursor(last["severity"], last["opened_at"], last["id"])
        if more and last
        else None,
    }


@router.get(
    "/stats",
    response_model=AlertStats,
    summary="Open alerts by severity; MTTA and MTTR",
    responses=responses(401, 422),
)
def stats(
    st: State, _who: Viewer, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    t0, t1 = time_range(start, end, timedelta(days=7), st.settings.api.max_range_days)
    by, r = queries.stats(st.db, t0, t1)
    return {
        **r,
        "open_by_severity": by,
        "mtta_s": float(r["mtta_s"]) if r["mtta_s"] is not None else None,
        "mttr_s": float(r["mttr_s"]) if r["mttr_s"] is not None else None,
    }


def _alarm_load(
    st: Any,
    t0: datetime,
    t1: datetime,
    kind: list[str] | None = None,
    zone: str | None = None,
    operators: int = 1,
    min_severity: str | None = None,
) -> dict[str, Any]:
    """The alarm load of a desk (``kind``, ``zone``; default everything) in [t0, t1)."""
    floor = Severity[min_severity.upper()] if min_severity else Severity.INFO
    with st.db.pool.connection() as conn:
        items, live_since = queries.annunciations(conn, t0, t1, kind, zone, floor)
    return {**alarm_load(items, t0, t1, live_since, operators), "min_severity": floor.label}


@router.get(
    "/load",
    response_model=AlarmLoad,
    summary="Alarm load: is the control room being spammed? (ISA-18.2 / EEMUA 191; default: the last 24 h)",
    description="What reached the operators in a range: annunciations per 10 minutes against the guideline "
    "(about 1 very likely acceptable, about 2 the most manageable), the peak, floods (more than 10 in 10 "
    "minutes), the most frequent alerts to tune first, chattering alerts (3 or more in 60 s), the severity "
    "mix against 80/15/5 % and alerts live for over 24 h. An annunciation is an alert opening or re-opening "
    "while not muted by maintenance. The guidelines are per operator: `operators` share the load; `kind` "
    "and `zone` choose a desk (the CCTV desk, a district); `min_severity=warning` counts only the alerts "
    "that ask an operator to act (ISA-18.2's alarms, without its informational alerts).",
    responses=responses(401, 422),
)
def load(
    st: State,
    _who: Viewer,
    start: datetime | None = None,
    end: datetime | None = None,
    kind: Annotated[list[str] | None, Query(description="device kinds of the desk (aq, cctv, …)")] = None,
    zone: Annotated[str | None, Query(description="alerts about the zone or a device in it")] = None,
    operators: Annotated[int, Query(ge=1, le=200, description="operators sharing this load")] = 1,
    min_severity: Annotated[
        SeverityName | None,
        Query(
            description="count only alerts this severe: `warning` leaves out information that asks no action"
        ),
    ] = None,
) -> Any:
    t0, t1 = time_range(start, end, timedelta(hours=24), st.settings.api.max_range_days)
    return _alarm_load(st, t0, t1, kind, zone, operators, min_severity)


@router.get(
    "/report",
    response_model=ShiftReport,
    summary="The shift report: what happened in a range (default: the last 12 hours)",
    description="For the hand-over between shifts: alerts opened by severity and rule, what is still open, "
    "response times, who acknowledged and resolved how many, zone outages, advisories, maintenance windows "
    "and notifications. `format=markdown` gives the same as text for the shift log.",
    responses=responses(401, 422),
)
def report(
    st: State,
    _who: Viewer,
    lang: Language,
    start: datetime | None = None,
    end: datetime | None = None,
    format: Literal["json", "markdown"] = "json",
) -> Any:
    t0, t1 = time_range(start, end, timedelta(hours=12), st.settings.api.max_range_days)
    q = queries.shift(st.db, t0, t1)
    head = q["head"]
    by_sev = {s.label: head[s.label] for s in Severity}
    out = {
        "start": t0,
        "end": t1,
        "opened": head["opened"],
        "escalated": head["escalated"],
        "escalated_further": head["escalated_further"],
        "opened_by_severity": by_sev,
        "mtta_s": float(head["mtta_s"]) if head["mtta_s"] is not None else None,
        "mttr_s": float(head["mttr_s"]) if head["mttr_s"] is not None else None,
        "by_rule": [{**r, "worst": Severity(r["worst"]).label} for r in q["by_rule"]],
        "still_open": [
            {
                **{k: v for k, v in r.items() if k != "explanation"},
                "title": st.names.title(r, lang),
                "severity": Severity(r["severity"]).label,
            }
            for r in q["still_open"]
        ],
        "operators": q["people"],
        "episodes": [
            {
                **{k: v for k, v in r.items() if k != "explanation"},
                "title": st.names.title(r, lang),
                "severity": Severity(r["severity"]).label,
                "involved": involved((r["explanation"] or {}).get("details")),
            }
            for r in q["episodes"]
        ],
        "maintenance": q["windows"],
        "notifications": q["sent"],
        "load": _alarm_load(st, t0, t1),
    }
    if format == "markdown":
        return PlainTextResponse(
            report_markdown(out, st.settings.tz, messages()[lang]), media_type="text/markdown; charset=utf-8"
        )
    return out


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    summary="Live alert notifications (Server-Sent Events), resumable",
    description=(
        "Each event is one notification (`event:` opened, reopened, severity_raised, level_changed, escalated, acknowledged,"
        " resolved, auto_resolved) with the alert as JSON; its `id:` is a cursor. Reconnect with the"
        " `Last-Event-ID` header (browsers do) or `?after=` to receive everything missed in between;"
        " without either, the stream starts with what comes next (`after=0` replays everything)."
    ),
    responses=responses(401, 422),
)
async def stream(
    st: State,
    _who: Viewer,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
    kind: Annotated[list[str] | None, Query()] = None,
    subject: Annotated[list[str] | None, Query()] = None,
    min_severity: SeverityName | None = None,
) -> AsyncIterator[ServerSentEvent]:
    feed = st.feed
    if last_event_id is not None and last_event_id.isdigit():
        cursor = int(last_event_id)
    elif after is not None:
        cursor = after
    else:
        cursor = await run_in_threadpool(feed.head)
    async with st.metrics.subscribed("alerts"):
        yield ServerSentEvent(comment=f"citywatch alerts after {cursor}", retry=2000)
        while True:
            rows = await run_in_threadpool(feed.after, cursor)
            for r in rows:
                cursor = r["id"]
                if matches(r["payload"], kind, min_severity, subject):
                    yield ServerSentEvent(data=r["payload"], event=r["what"], id=str(r["id"]))
            if len(rows) < 500:
                await feed.wait()


def _procedure(row: dict[str, Any]) -> Procedure | None:
    return procedure(row["runbook"], "runbook") if row.get("runbook") else None


def _checklist(steps: Procedure | None, trail: list[dict[str, Any]], lang: str) -> dict[str, Any] | None:
    """The alert's procedure in ``lang``, each step with who ticked it and when (from its audit trail)."""
    if steps is None:
        return None
    done = ticked(trail)
    language = lang if lang in steps.steps else next(iter(steps.steps))
    return {
        "language": language,
        "steps": [
            {
                "step": n,
                "text": text,
                "done": n in done,
                "by": done.get(n, (None,))[0],
                "at": done.get(n, (None, None))[1],
            }
            for n, text in enumerate(steps.read(language), start=1)
        ],
    }


def _detail(st: State, alert_id: int, lang: str) -> dict[str, Any]:
    row = queries.one(st.db, alert_id)
    if row is None:
        raise Problem(404, Text("error.alert.unknown", {"id": alert_id}))
    trail = [  # what the system wrote, in the reader's language (a person's words as they wrote them)
        {
            **{k: v for k, v in e.items() if k != "detail_text"},
            "detail": st.names.said(e["detail_text"], e["detail"], lang),
        }
        for e in queries.audit(st.db, alert_id)
    ]
    return {
        **_shape(st, row, lang),
        "audit": trail,
        "procedure": _checklist(_procedure(row), trail, lang),
        "earlier": queries.earlier(st.db, row),
    }


@router.get(
    "/{alert_id}",
    response_model=AlertDetail,
    summary="One alert with its explanation and audit trail",
    responses=responses(401, 404),
)
def get_alert(st: State, _who: Viewer, alert_id: int, lang: Language) -> dict[str, Any]:
    return _detail(st, alert_id, lang)


def _act(st: State, alert_id: int, event: Event, lang: str) -> dict[str, Any]:
    with st.db.pool.connection() as conn:
        if queries.state_of(conn, alert_id) is None:
            raise Problem(404, Text("error.alert.unknown", {"id": alert_id}))
        try:
            store.apply(conn, event, datetime.now(UTC), alert_id=alert_id)
        except IllegalTransition as e:
            raise Problem(409, e.text) from None
    return _detail(st, alert_id, lang)


_ACT = responses(401, 403, 404, 409, 422)


@router.post(
    "/{alert_id}/acknowledge", response_model=AlertDetail, summary="Acknowledge (operator)", responses=_ACT
)
def acknowledge(st: State, who: Operator, alert_id: int, lang: Language) -> dict[str, Any]:
    return _act(st, alert_id, Acknowledge(who.name), lang)


@router.post(
    "/{alert_id}/confirm",
    response_model=AlertDetail,
    summary="Confirm an unconfirmed advisory (미확인): it takes its full severity and title (operator)",
    responses=_ACT,
)
def confirm(
    st: State, who: Operator, alert_id: int, lang: Language, body: ResolveIn | None = None
) -> dict[str, Any]:
    return _act(st, alert_id, Confirm(who.name, body.note if body else ""), lang)


@router.post(
    "/{alert_id}/resolve",
    response_model=AlertDetail,
    summary="Resolve, with a note (operator)",
    responses=_ACT,
)
def resolve(
    st: State, who: Operator, alert_id: int, lang: Language, body: ResolveIn | None = None
) -> dict[str, Any]:
    return _act(st, alert_id, Resolve(who.name, body.note if body else ""), lang)


@router.post(
    "/{alert_id}/assign",
    response_model=AlertDetail,
    summary="Assign to someone, or nobody (operator)",
    responses=_ACT,
)
def assign(st: State, who: Operator, alert_id: int, lang: Language, body: AssignIn) -> dict[str, Any]:
    if (
        body.assignee
        and st.db.one("SELECT 1 AS x FROM api_users WHERE username = %s", (body.assignee,)) is None
    ):
        raise Problem(
            422,
            unknown := Text("error.user.unknown", {"user": body.assignee}),
            errors=[{"field": "body.assignee", "message": unknown}],
        )
    return _act(st, alert_id, Assign(who.name, body.assignee), lang)


@router.post(
    "/{alert_id}/comments",
    response_model=AlertDetail,
    status_code=201,
    summary="Comment (operator)",
    responses=_ACT,
)
def comment(st: State, who: Operator, alert_id: int, lang: Language, body: CommentIn) -> dict[str, Any]:
    return _act(st, alert_id, Comment(who.name, body.text), lang)


@router.post(
    "/{alert_id}/procedure/{step}",
    response_model=AlertDetail,
    summary="Tick a step of the alert's procedure as done, or un-tick it (operator)",
    description="The step's number counts from 1, as `procedure.steps[].step` gives it; the tick (who, when, the "
    "step's text) goes into the audit trail.",
    responses=_ACT,
)
def tick_step(
    st: State, who: Operator, alert_id: int, step: int, lang: Language, body: StepIn | None = None
) -> dict[str, Any]:
    row = queries.one(st.db, alert_id)
    steps = _procedure(row) if row is not None else None
    if row is not None and (steps is None or not 1 <= step <= len(steps)):
        raise Problem(
            404,
            Text("error.alert.step", {"id": alert_id, "step": step, "n": len(steps)})
            if steps
            else Text("error.alert.no_procedure", {"id": alert_id, "step": step}),
        )
    text = steps.read(st.settings.language)[step - 1] if steps is not None else ""
    return _act(st, alert_id, Step(who.name, step, text, body.done if body else True), lang)


@router.post(
    "/bulk",
    response_model=list[BulkResult],
    summary="Acknowledge or resolve many alerts at once (operator)",
    description="For a storm: each alert is done on its own (its own audit entry and notification); one that "
    "cannot be (already acknowledged, resolved meanwhile, unknown) says why, and the others are still done.",
    responses=responses(401, 403, 422),
)
def bulk(st: State, who: Operator, body: BulkIn) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with st.db.pool.connection() as conn:
        for alert_id in dict.fromkeys(body.ids):  # each once, in the order given
            event: Event = (
                Acknowledge(who.name) if body.action == "acknowledge" else Resolve(who.name, body.note)
            )
            try:
                a = store.apply(conn, event, datetime.now(UTC), alert_id=alert_id)
            except IllegalTransition as e:
                now_state = queries.state_of(conn, alert_id)
                why = str(e) if now_state else f"alert {alert_id} does not exist"
                out.append({"id": alert_id, "ok": False, "state": now_state, "error": why})
                continue
            if a is None:
                out.append(
                    {"id": alert_id, "ok": False, "state": None, "error": f"alert {alert_id} does not exist"}
                )
            else:
                out.append({"id": alert_id, "ok": True, "state": a.state.value, "error": None})
    return out
