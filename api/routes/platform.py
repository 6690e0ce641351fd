"""Platform health: ingest counters, dead letters with reasons, per-device errors, liveness and readiness."""

from __future__ import annotations

import socket
import time
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.common import decode_cursor, encode_cursor, time_range
from api.deps import State, Viewer
from api.problems import responses
from api.schemas import Check, DeadLetter, DeviceErrors, IngestHealth, Page, Readiness
from ingest.decode import Reason

router = APIRouter(tags=["platform"])
health = APIRouter(tags=["platform"])  # served at the root: /healthz, /readyz


@router.get(
    "/platform/ingest",
    response_model=IngestHealth,
    summary="Ingest counters and sequence accounting",
    responses=responses(401),
)
def ingest_health(st: State, _who: Viewer) -> dict[str, Any]:
    workers = st.db.all(
        "SELECT worker, received, written, duplicates, dead_lettered, batches, updated_at FROM ingest_counters"
        " ORDER BY worker"
    )
    seq = st.db.one(
        "SELECT coalesce(sum(gaps), 0)::bigint AS gaps, coalesce(sum(resets), 0)::bigint AS resets,"
        " coalesce(sum(jumps), 0)::bigint AS jumps FROM device_streams"
    )
    reasons = st.db.all("SELECT reason, count(*) AS n FROM dead_letters GROUP BY reason ORDER BY reason")
    assert seq is not None
    total = {k: sum(w[k] for w in workers) for k in ("received", "written", "duplicates", "dead_lettered")}
    return {
        **total,
        **seq,
        "workers": workers,
        "dead_letters_by_reason": {r["reason"]: r["n"] for r in reasons},
    }


@router.get(
    "/platform/dead-letters",
    response_model=Page[DeadLetter],
    summary="Browse dead letters, newest first",
    responses=responses(401, 422),
)
def dead_letters(
    st: State,
    _who: Viewer,
    reason: Reason | None = None,
    device_id: str | None = None,
    topic: Annotated[str | None, Query(description="topic prefix")] = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    t0, t1 = time_range(start, end, timedelta(days=7), st.settings.api.max_range_days)
    after = decode_cursor(cursor, 1)[0] if cursor else None
    rows = st.db.all(
        "SELECT id, received_at, topic, reason, detail, device_id, substring(payload FROM 1 FOR 512) AS head,"
        " length(payload) AS payload_bytes FROM dead_letters"
        " WHERE received_at >= %(t0)s AND received_at < %(t1)s"
        " AND (%(reason)s::text IS NULL OR reason = %(reason)s)"
        " AND (%(dev)s::text IS NULL OR device_id = %(dev)s)"
        " AND (%(topic)s::text IS NULL OR starts_with(topic, %(topic)s))"
        " AND (%(after)s::bigint IS NULL OR id < %(after)s) ORDER BY id DESC LIMIT %(n)s",
        {
            "t0": t0, "t1": t1, "reason": reason.value if reason else None, "dev": device_id, "topic": topic,
            "after": after, "n": limit + 1,
        },
    )  # fmt: skip
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {**r, "payload_preview": bytes(r["head"]).decode("utf-8", errors="backslashreplace")} for r in rows
    ]
    return {"items": items, "next_cursor": encode_cursor(rows[-1]["id"]) if more else None}


@router.get(
    "/platform/device-errors",
    response_model=list[DeviceErrors],
    summary="Devices with dead letters or lost messages",
    responses=responses(401, 422),
)
def device_errors(
    st: State, _who: Viewer, start: datetime | None = None, end: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
) -> list[dict[str, Any]]:  # fmt: skip
    t0, t1 = time_range(start, end, timedelta(days=1), st.settings.api.max_range_days)
    return st.db.all(
        "WITH dl AS (SELECT device_id, reason, count(*) AS n, max(received_at) AS last FROM dead_letters"
        "   WHERE device_id IS NOT NULL AND received_at >= %(t0)s AND received_at < %(t1)s GROUP BY 1, 2),"
        " per AS (SELECT device_id, sum(n)::bigint AS dead_letters, max(last) AS last_error_at,"
        "   jsonb_object_agg(reason, n) AS reasons FROM dl GROUP BY 1),"
        " g AS (SELECT device_id, sum(gaps)::bigint AS gaps FROM device_streams GROUP BY 1)"
        " SELECT coalesce(per.device_id, g.device_id) AS device_id, coalesce(per.dead_letters, 0) AS dead_letters,"
        " coalesce(g.gaps, 0) AS gaps, per.last_error_at, coalesce(per.reasons, '{}') AS reasons"
        " FROM per FULL JOIN g ON g.device_id = per.device_id"
        " WHERE coalesce(per.dead_letters, 0) > 0 OR coalesce(g.gaps, 0) > 0"
        " ORDER BY coalesce(per.dead_letters, 0) + coalesce(g.gaps, 0) DESC, 1 LIMIT %(n)s",
        {"t0": t0, "t1": t1, "n": limit},
    )


@health.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _check(fn: Any) -> Check:
    t = time.perf_counter()
    try:
        detail = fn()
        ok = True
    except Exception as e:
        detail, ok = f"{type(e).__name__}: {e}", False
    return Check(ok=ok, detail=str(detail), latency_ms=round((time.perf_counter() - t) * 1000, 2))


@health.get(
    "/readyz", response_model=Readiness, tags=["platform"],
    summary="Readiness: database and broker reachable (503 when not)", responses={503: {"model": Readiness}},
)  # fmt: skip
def readyz(st: State) -> JSONResponse:
    def db() -> str:
        with st.db.pool.connection(timeout=2) as conn:
            conn.execute("SELECT 1")
        return "reachable"

    def broker() -> str:
        m = st.settings.mqtt
        with socket.create_connection((m.host, m.port), timeout=2):
            return f"{m.host}:{m.port} reachable"

    checks = {"database": _check(db), "broker": _check(broker)}
    ready = all(c.ok for c in checks.values())
    body = Readiness(ready=ready, checks=checks)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)
