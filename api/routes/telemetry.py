"""Telemetry: latest values per device, downsampled series, CSV export."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from api.common import CSV_MEDIA_TYPE, csv_stream, time_range
from api.deps import State, Viewer
from api.problems import Problem, responses
from api.schemas import Latest, Series
from api.timeseries import METRICS, Aggregate, agg_sql, pick_bucket
from citywatch.contracts.topics import DeviceKind
from citywatch.db.rollups import ROLLUP
from citywatch.i18n import Text
from ingest import rows as ingest_rows

router = APIRouter(tags=["telemetry"])
HOUR = timedelta(hours=1)

#: stream table of each kind, and the columns a client sees: ingest's own table specs, without the
#: columns every row has (time, device, sequence number, receive time)
_SPECS = {
    "aq": ingest_rows.AIR_QUALITY,
    "parking": ingest_rows.PARKING,
    "cctv": ingest_rows.CCTV,
    "bus": ingest_rows.BUS,
    "stop": ingest_rows.STOP,
}
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    kind: (spec.name, tuple(c for c in spec.columns if c not in ("time", "device_id", "seq", "received_at")))
    for kind, spec in _SPECS.items()
}


@router.get(
    "/telemetry/latest",
    response_model=list[Latest],
    summary="The latest reading of every device of a kind",
    responses=responses(401, 422),
)
def latest(
    st: State,
    _who: Viewer,
    kind: DeviceKind,
    zone: str | None = None,
    device_id: Annotated[list[str] | None, Query(max_length=1000)] = None,
    max_age_s: Annotated[float | None, Query(gt=0, description="skip devices silent for longer")] = None,
) -> list[dict[str, Any]]:
    table, cols = TABLES[kind.value]
    # one index probe per device on (device_id, time DESC); the newest chunk answers
    sql = (
        f"SELECT d.device_id, d.kind, d.zone_id, l.time, {', '.join('l.' + c for c in cols)}"
        f" FROM devices d CROSS JOIN LATERAL (SELECT * FROM {table} t WHERE t.device_id = d.device_id"
        "   AND (%(age)s::float8 IS NULL OR t.time > now() - make_interval(secs => %(age)s))"
        "   ORDER BY t.time DESC LIMIT 1) l"
        " WHERE d.kind = %(kind)s AND d.status = 'active' AND (%(zone)s::text IS NULL OR d.zone_id = %(zone)s)"
        "   AND (%(ids)s::text[] IS NULL OR d.device_id = ANY(%(ids)s)) ORDER BY d.device_id"
    )
    rows = st.db.all(sql, {"kind": kind.value, "zone": zone, "ids": device_id, "age": max_age_s})
    return [
        {k: r[k] for k in ("device_id", "kind", "zone_id", "time")} | {"values": {c: r[c] for c in cols}}
        for r in rows
    ]


def _device_kind(st: State, device_id: str) -> str:
    row = st.db.one("SELECT kind FROM devices WHERE device_id = %s", (device_id,))
    if row is None:
        raise Problem(404, Text("error.device.unknown", {"device": device_id}))
    return str(row["kind"])


@router.get(
    "/devices/{device_id}/series",
    response_model=Series,
    summary="One metric of one device over time, downsampled on the server",
    description=(
        "The bucket is the smallest of 1 s … 30 d that keeps the answer within `max_points`; each bucket"
        " carries the chosen aggregate. Buckets of an hour or more cover whole hours; air-quality averages"
        " over them come from the hourly rollup (`source`). Buckets without data are absent. `format=csv`"
        " answers in CSV."
    ),
    responses={**responses(401, 404, 422), 200: {"content": {"text/csv": {}}}},
)
def series(
    st: State,
    _who: Viewer,
    request: Request,
    device_id: str,
    metric: str,
    start: datetime | None = None,
    end: datetime | None = None,
    agg: Aggregate = Aggregate.AVG,
    max_points: Annotated[int, Query(ge=1)] = 1000,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    kind = _device_kind(st, device_id)
    m = METRICS[kind].get(metric)
    if m is None:
        raise Problem(
            422,
            unknown := Text(
                "error.metric", {"kind": kind, "metric": metric, "known": ", ".join(METRICS[kind])}
            ),
            errors=[{"field": "query.metric", "message": unknown}],
        )
    if max_points > st.settings.api.max_points:
        raise Problem(
            422,
            many := Text("error.max_points", {"n": st.settings.api.max_points}),
            errors=[{"field": "query.max_points", "message": many}],
        )
    t0, t1 = time_range(start, end, timedelta(hours=24), st.settings.api.max_range_days)
    bucket = pick_bucket(t0, t1, max_points)
    if bucket >= HOUR:  # buckets of an hour or more cover whole hours
        t0 = t0.replace(minute=0, second=0, microsecond=0)
    params = {"b": bucket, "d": device_id, "t0": t0, "t1": t1, "origin": t0}
    source = "raw"
    if m.table == "air_quality" and agg is Aggregate.AVG and bucket >= HOUR and bucket % HOUR == timedelta(0):
        # a week or a month: the hourly rollup (24 rows a day instead of 1,440), weighted by samples
        source = "rollup_1h"
        rows = st.db.all(
            f"SELECT time_bucket(%(b)s, bucket, origin => %(origin)s) AS t,"
            f" (sum({m.expr} * samples) / nullif(sum(samples) FILTER (WHERE {m.expr} IS NOT NULL), 0))::float8 AS v"
            f" FROM {ROLLUP} WHERE device_id = %(d)s AND bucket >= %(t0)s AND bucket < %(t1)s GROUP BY 1 ORDER BY 1",
            params,
        )
    else:
        rows = st.db.all(
            f"SELECT time_bucket(%(b)s, time, origin => %(origin)s) AS t, {agg_sql(agg, m.expr)} AS v"
            f" FROM {m.table} WHERE device_id = %(d)s AND time >= %(t0)s AND time < %(t1)s GROUP BY 1 ORDER BY 1",
            params,
        )
    if format == "csv" or "text/csv" in request.headers.get("accept", ""):
        return StreamingResponse(
            csv_stream(["time", metric], ((r["t"], r["v"]) for r in rows)),
            media_type=CSV_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{device_id}-{metric}.csv"'},
        )
    return Series(
        device_id=device_id,
        metric=metric,
        unit=m.unit,
        aggregate=agg.value,
        bucket_s=bucket.total_seconds(),
        source=source,
        start=t0,
        end=t1,
        points=[{"t": r["t"], "v": None if r["v"] is None else float(r["v"])} for r in rows],
    )


@router.get(
    "/devices/{device_id}/export.csv",
    summary="Raw readings of one device as CSV (streamed)",
    response_class=StreamingResponse,
    responses={**responses(401, 404, 422), 200: {"content": {"text/csv": {}}}},
)
def export_csv(
    st: State, _who: Viewer, device_id: str, start: datetime | None = None, end: datetime | None = None
) -> StreamingResponse:
    kind = _device_kind(st, device_id)
    table, cols = TABLES[kind]
    t0, t1 = time_range(start, end, timedelta(hours=24), st.settings.api.max_range_days)
    limit = st.settings.api.max_export_rows
    header = ["time", "seq", *cols, "received_at"]

    def rows() -> Any:
        # a server-side cursor inside a transaction: rows stream without being held in memory
        with st.db.pool.connection() as conn, conn.transaction(), conn.cursor(name="export") as cur:
            cur.itersize = 5000
            cur.execute(
                f"SELECT {', '.join(header)} FROM {table} WHERE device_id = %s AND time >= %s AND time < %s"
                " ORDER BY time LIMIT %s",
                (device_id, t0, t1, limit),
            )
            for r in cur:
                yield [r[c] for c in header]

    return StreamingResponse(
        csv_stream(header, rows()),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{device_id}.csv"'},
    )
