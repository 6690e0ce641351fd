"""Maintenance windows: put a device (or a zone) under maintenance so its alerts stop notifying and
escalating while a technician works on it; list them; end one early (see :mod:`alerts.maintenance`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter

from alerts import store
from alerts.maintenance import IN_FORCE, MAX_DAYS, window_from_row
from api.common import utc
from api.deps import Operator, State, Viewer
from api.problems import Problem, responses
from api.schemas import Maintenance, MaintenanceIn

router = APIRouter(prefix="/maintenance", tags=["alerts"])

_SELECT = (
    f"SELECT m.*, ({IN_FORCE}) AS active,"
    " (SELECT count(*) FROM alerts a WHERE a.muted_by = m.id AND a.state <> 'resolved') AS muted_alerts"
    " FROM maintenance m"
)


def _one(st: State, window_id: int) -> dict[str, Any]:
    row = st.db.one(f"{_SELECT} WHERE m.id = %(id)s", {"id": window_id, "at": datetime.now(UTC)})
    if row is None:
        raise Problem(404, f"maintenance window {window_id} does not exist")
    return row


def _bad(field: str, message: str) -> Problem:
    return Problem(422, message, errors=[{"field": f"body.{field}", "message": message}])


@router.get(
    "",
    response_model=list[Maintenance],
    summary="Maintenance windows: current and coming, or all",
    responses=responses(401, 422),
)
def list_windows(st: State, _who: Viewer, include_past: bool = False) -> list[dict[str, Any]]:
    where = "" if include_past else " WHERE least(m.ends_at, coalesce(m.ended_at, m.ends_at)) > %(at)s"
    return st.db.all(
        f"{_SELECT}{where} ORDER BY m.starts_at DESC, m.id DESC LIMIT 500", {"at": datetime.now(UTC)}
    )


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
        raise _bad("ends_at", "give either ends_at or duration_min")
    end = utc(body.ends_at) if body.ends_at else start + timedelta(minutes=body.duration_min or 0)
    if end <= start:
        raise _bad("ends_at", "must be after starts_at")
    if end <= now:
        raise _bad("ends_at", "is already past")
    if end - start > timedelta(days=MAX_DAYS):
        raise _bad(
            "ends_at", f"a window may last {MAX_DAYS} days at most (take the device out of service instead)"
        )
    if body.subject.startswith("zone:"):
        known = st.db.one(
            "SELECT 1 AS x FROM zones WHERE zone_id = %s", (body.subject.removeprefix("zone:"),)
        )
    else:
        known = st.db.one("SELECT 1 AS x FROM devices WHERE device_id = %s", (body.subject,))
    if known is None:
        raise _bad("subject", f"no device or zone {body.subject}")
    with st.db.pool.connection() as conn:
        row = conn.execute(
            "INSERT INTO maintenance (subject, rule_prefix, starts_at, ends_at, reason, created_by)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
            (body.subject, body.rule_prefix or None, start, end, body.reason, who.name),
        ).fetchone()
        store.mute_live(
            conn, window_from_row(row), now
        )  # the alerts already live on it: muted from now on too
    return _one(st, row["id"])


@router.post(
    "/{window_id}/end",
    response_model=Maintenance,
    summary="End a maintenance window now (operator); its live alerts are notified within a poll interval",
    responses=responses(401, 403, 404, 409),
)
def end(st: State, who: Operator, window_id: int) -> dict[str, Any]:
    w = _one(st, window_id)
    now = datetime.now(UTC)
    if w["ended_at"] is not None or w["ends_at"] <= now:
        raise Problem(409, f"maintenance window {window_id} has already ended")
    st.db.one(
        "UPDATE maintenance SET ended_at = greatest(%s, starts_at), ended_by = %s WHERE id = %s RETURNING id",
        (now, who.name, window_id),
    )
    return _one(st, window_id)
