"""Maintenance windows: put a device (or a zone) under maintenance so its alerts stop notifying and
escalating while a technician works on it; list them; move one's end (extend or shorten it); end one
early (see :mod:`alerts.maintenance`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter

from alerts import queries, store
from alerts.maintenance import MAX_DAYS
from api.common import utc
from api.deps import Operator, State, Viewer
from api.problems import Problem, responses
from api.schemas import Maintenance, MaintenanceChange, MaintenanceIn
from citywatch.i18n import Text

router = APIRouter(prefix="/maintenance", tags=["alerts"])


def _one(st: State, window_id: int) -> dict[str, Any]:
    row = queries.window(st.db, window_id, datetime.now(UTC))
    if row is None:
        raise Problem(404, Text("error.window.unknown", {"id": window_id}))
    return row


def _bad(field: str, message: Text) -> Problem:
    return Problem(422, message, errors=[{"field": f"body.{field}", "message": message}])


def _check_length(start: datetime, end: datetime, field: str = "ends_at") -> None:
    if end - start > timedelta(days=MAX_DAYS):
        raise _bad(field, Text("error.window.long", {"days": MAX_DAYS}))


def _ended(w: dict[str, Any], now: datetime) -> bool:
    return w["ended_at"] is not None or w["ends_at"] <= now


@router.get(
    "",
    response_model=list[Maintenance],
    summary="Maintenance windows: current and coming, or all",
    responses=responses(401, 422),
)
def list_windows(st: State, _who: Viewer, include_past: bool = False) -> list[dict[str, Any]]:
    return queries.windows(st.db, datetime.now(UTC), include_past)


@router.post(
    "",
    response_model=Maintenance,
    status_code=201,
    summary="Put a device or a zone under maintenance (operator)",
    responses=responses(401, 403, 422),
)
def create(st: State, who: Operator, body: MaintenanceIn) -> dict[str, Any]:
    now = datetime.now(UTC)
    start = utc(body.starts_at) if body.starts_at else now
    if (body.ends_at is None) == (body.duration_min is None):
        raise _bad("ends_at", Text("error.window.end_or_duration"))
    end = utc(body.ends_at) if body.ends_at else start + timedelta(minutes=body.duration_min or 0)
    if end <= start:
        raise _bad("ends_at", Text("error.window.order"))
    if end <= now:
        raise _bad("ends_at", Text("error.window.past"))
    _check_length(start, end)
    if body.subject.startswith("zone:"):
        known = st.db.one(
            "SELECT 1 AS x FROM zones WHERE zone_id = %s", (body.subject.removeprefix("zone:"),)
        )
    else:
        known = st.db.one("SELECT 1 AS x FROM devices WHERE device_id = %s", (body.subject,))
    if known is None:
        raise _bad("subject", Text("error.window.subject", {"subject": body.subject}))
    with st.db.pool.connection() as conn:
        window_id = store.open_window(
            conn, body.subject, body.rule_prefix or None, start, end, body.reason, who.name, now
        )
    return _one(st, window_id)


@router.post(
    "/{window_id}/end",
    response_model=Maintenance,
    summary="End a maintenance window now (operator); its live alerts are notified within a poll interval",
    responses=responses(401, 403, 404, 409),
)
def end(st: State, who: Operator, window_id: int) -> dict[str, Any]:
    w = _one(st, window_id)
    now = datetime.now(UTC)
    if _ended(w, now):
        raise Problem(409, Text("error.window.ended", {"id": window_id}))
    with st.db.pool.connection() as conn:
        store.end_window(conn, window_id, now, who.name)
    return _one(st, window_id)


@router.patch(
    "/{window_id}",
    response_model=Maintenance,
    summary="Move a maintenance window's end, or change its reason (operator)",
    description="Extend a window while the work goes on (`extend_min`, or a later `ends_at`) or shorten it "
    "(an earlier `ends_at`, still in the future: to end it now, use `/end`). The window keeps its id, so "
    "the alerts it mutes stay muted without a gap. An ended window cannot be changed: create another.",
    responses=responses(401, 403, 404, 409, 422),
)
def change(st: State, who: Operator, window_id: int, body: MaintenanceChange) -> dict[str, Any]:
    w = _one(st, window_id)
    now = datetime.now(UTC)
    if _ended(w, now):
        raise Problem(409, Text("error.window.ended_create", {"id": window_id}))
    if body.ends_at is not None and body.extend_min is not None:
        raise _bad("ends_at", Text("error.window.end_or_extend"))
    if body.ends_at is None and body.extend_min is None and body.reason is None:
        raise _bad("ends_at", Text("error.window.change"))
    end: datetime = w["ends_at"]
    field = "ends_at"
    if body.ends_at is not None:
        end = utc(body.ends_at)
    elif body.extend_min is not None:
        end, field = end + timedelta(minutes=body.extend_min), "extend_min"
    if end <= now:
        raise _bad(field, Text("error.window.past_end"))
    if end <= w["starts_at"]:
        raise _bad(field, Text("error.window.order"))
    _check_length(w["starts_at"], end, field)
    with st.db.pool.connection() as conn:
        store.move_window(conn, window_id, end, body.reason, now, who.name)
    return _one(st, window_id)
