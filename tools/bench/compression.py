"""`citywatch bench compression`: what the compression settings cost and buy (Timescale License edition).

The simulated city's rows of ``hours`` hours, three weeks old (past every ``compress_after``), are
written by binary COPY into two databases that differ only in the order-by of compression:
``former`` (``time DESC``) and ``current`` (:func:`citywatch.db.features.compress_orderby`: ``time
DESC`` and every other unique-key column, so that a redelivered row is checked against the batches
it could clash with). Every chunk is compressed; per table the bench reports the bytes before and
after and the ratio of each, then redelivers a sample of rows into the compressed chunks through
``INSERT … ON CONFLICT DO NOTHING`` and reports the time per row and how many were stored (must be 0).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from citywatch.db import features
from citywatch.db.migrate import migrate
from ingest.decode import DeviceInfo
from ingest.rows import Row, TableSpec
from simulators.city import Scale, build_city
from simulators.engine import simulate
from tools.bench.ceilings import rows_of
from tools.bench.common import private_servers, progress

SECRET = "bench-secret"
SCALE = Scale(
    stations=25, lots=10, spaces_per_lot=30, cameras=50, routes=8, stops_per_route=12, buses_per_route=4
)
FORMER = "time DESC"


def _load(url: str, tables: dict[str, tuple[TableSpec, list[Row]]]) -> None:
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction(), conn.cursor() as cur:
        for spec, rows in tables.values():
            with cur.copy(f"COPY {spec.name} ({', '.join(spec.columns)}) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(list(spec.types))
                for row in rows:
                    cp.write_row(row)


def _compress(url: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for table in features.COMPRESS_AFTER:
            conn.execute(f"SELECT count(compress_chunk(c, true)) FROM show_chunks('{table}') c")
            before, after, chunks = conn.execute(
                "SELECT sum(before_compression_total_bytes), sum(after_compression_total_bytes), count(*)"
                f" FROM chunk_compression_stats('{table}') WHERE compression_status = 'Compressed'"
            ).fetchone() or (None, None, 0)
            out[table] = {
                "before_bytes": int(before or 0),
                "after_bytes": int(after or 0),
                "chunks": int(chunks),
            }
    return out


def _redeliver(url: str, table: TableSpec, rows: list[Row]) -> tuple[float, int]:
    """Each row again, one INSERT … ON CONFLICT DO NOTHING per row (as a redelivery arrives): (ms per row,
    rows stored)."""
    cols = ", ".join(table.columns)
    marks = ", ".join(["%s"] * len(table.columns))
    stored = 0
    with psycopg.connect(url, autocommit=True) as conn:
        t0 = time.perf_counter()
        for row in rows:
            stored += conn.execute(
                f"INSERT INTO {table.name} ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING", row
            ).rowcount
        ms = (time.perf_counter() - t0) * 1000 / max(len(rows), 1)
    return ms, stored


def run(*, hours: float = 24.0, sample: int = 300, seed: int = 41) -> dict[str, Any]:
    city = build_city(seed, SCALE)
    start = (datetime.now(UTC) - timedelta(days=21)).replace(minute=0, second=0, microsecond=0).timestamp()
    progress(f"simulating {hours:g} h of a city of {len(city.devices)} devices, three weeks ago")
    messages = [
        (o.topic, o.payload)
        for o in simulate(city, start, start + hours * 3600, seed=seed)
        if o.tag is None and o.payload
    ]
    tables = rows_of(messages, {d.device_id: DeviceInfo(d.kind) for d in city.devices})
    n_rows = sum(len(r) for _s, r in tables.values())
    progress(f"{len(messages)} messages, {n_rows} rows")
    result: dict[str, Any] = {"hours": hours, "devices": len(city.devices), "rows": n_rows}
    with private_servers(SECRET, durable=False) as s:
        variants: dict[str, dict[str, Any]] = {}
        for name in ("former", "current"):
            url = s.pg.create_database(name)
            migrate(url)
            features.apply(url)
            with psycopg.connect(url, autocommit=True) as conn:
                if (lic := features.licence(conn)) != "timescale":
                    raise SystemExit(
                        f"bench compression needs the Timescale License edition (CITYWATCH_PG_BINDIR={s.pg.bindir}"
                        f" has {lic!r}): CITYWATCH_PG_BINDIR=$(scripts/install-timescaledb-tsl.sh)"
                    )
                # the bench compresses, not the policies (which would race it)
                conn.execute(
                    "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs"
                    " WHERE proc_name = 'policy_compression'"
                )
                orderby = {}
                for table, (segment_by, _after) in features.COMPRESS_AFTER.items():
                    orderby[table] = (
                        FORMER if name == "former" else features.compress_orderby(conn, table, segment_by)
                    )
                    conn.execute(
                        f"ALTER TABLE {table} SET (timescaledb.compress, timescaledb.compress_segmentby = "
                        f"'{segment_by}', timescaledb.compress_orderby = '{orderby[table]}')"
                    )
            progress(f"{name}: loading and compressing")
            _load(url, tables)
            stats = _compress(url)
            spec, rows = tables["air_quality"]
            step = max(len(rows) // sample, 1)
            ms, stored = _redeliver(url, spec, rows[::step][:sample])
            progress(
                f"{name}: redelivered {min(sample, len(rows))} air-quality rows, {ms:.2f} ms each, {stored} stored"
            )
            variants[name] = {
                "orderby": orderby,
                "tables": {
                    t: {
                        **v,
                        "ratio": round(v["before_bytes"] / v["after_bytes"], 2) if v["after_bytes"] else None,
                    }
                    for t, v in stats.items()
                },
                "redelivery_ms_per_row": round(ms, 3),
                "redelivered_stored": stored,
            }
    for v in variants.values():
        before = sum(t["before_bytes"] for t in v["tables"].values())
        after = sum(t["after_bytes"] for t in v["tables"].values())
        v["ratio"] = round(before / after, 2) if after else None
    result["variants"] = variants
    f, c = variants["former"]["ratio"], variants["current"]["ratio"]
    result["ratio_change_pct"] = round(100 * (c - f) / f, 1) if f and c else None
    result["duplicates"] = sum(v["redelivered_stored"] for v in variants.values())
    return result
