"""The hourly air-quality rollup, kept up to date with what ingest writes, on both editions.

Ingest records the hour of every air-quality row it writes in ``rollup_invalidations`` (same
transaction), and :func:`refresh` brings those hours up to date — at most ``limit`` per call, oldest
first — so the rollup follows late and backfilled data exactly. On the Apache edition
``air_quality_1h`` is a plain table (``features.apply`` creates it) that :func:`refresh` recomputes;
on the Timescale License edition it is a continuous aggregate that :func:`refresh` asks TimescaleDB
to materialise for those hours. Charts of a week or a month read 24 rows a day per station instead
of 1,440.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

log = logging.getLogger(__name__)

ROLLUP = "air_quality_1h"
POLLUTANTS = ("pm10", "pm25", "o3", "no2", "co", "so2", "temp_c", "rh")

TABLE_DDL = (
    f"CREATE TABLE {ROLLUP} (bucket timestamptz NOT NULL, device_id text NOT NULL, "
    + ", ".join(f"{p} double precision" for p in POLLUTANTS)
    + ", samples bigint NOT NULL, PRIMARY KEY (device_id, bucket))"
)

INDEX_DDL = f"CREATE INDEX {ROLLUP}_bucket ON {ROLLUP} (bucket)"

_AGG = ", ".join(f"avg({p})" for p in POLLUTANTS)


def is_table(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute(
        "SELECT relkind::text FROM pg_class WHERE relname = %s AND relnamespace = 'public'::regnamespace",
        (ROLLUP,),
    ).fetchone()
    return bool(row and row[0] in ("r", "p"))


def invalidate_all(conn: psycopg.Connection[Any]) -> int:
    """Mark every hour that has readings (after creating the table, or to rebuild it)."""
    cur = conn.execute(
        "INSERT INTO rollup_invalidations (rollup, bucket) SELECT DISTINCT %s, time_bucket('1 hour', time)"
        " FROM air_quality ON CONFLICT DO NOTHING",
        (ROLLUP,),
    )
    return cur.rowcount


def refresh(conn: psycopg.Connection[Any], limit: int = 24) -> int:
    """Recompute up to ``limit`` invalidated hours; returns how many were done (0: up to date).
    ``conn`` is in autocommit mode; the work is one transaction."""
    if not is_table(conn):
        return _refresh_continuous(conn, limit)
    with conn.transaction():
        hours = [
            r[0]
            for r in conn.execute(
                "DELETE FROM rollup_invalidations WHERE (rollup, bucket) IN (SELECT rollup, bucket"
                " FROM rollup_invalidations WHERE rollup = %s ORDER BY bucket LIMIT %s FOR UPDATE SKIP LOCKED)"
                " RETURNING bucket",
                (ROLLUP, limit),
            )
        ]
        if not hours:
            return 0
        conn.execute(f"DELETE FROM {ROLLUP} WHERE bucket = ANY(%s)", (hours,))
        conn.execute(
            f"INSERT INTO {ROLLUP} (bucket, device_id, {', '.join(POLLUTANTS)}, samples)"
            f" SELECT time_bucket('1 hour', time), device_id, {_AGG}, count(*) FROM air_quality"
            " WHERE time_bucket('1 hour', time) = ANY(%s) AND time >= %s AND time < %s + interval '1 hour'"
            " GROUP BY 1, 2",
            (hours, min(hours), max(hours)),
        )
    return len(hours)


def _refresh_continuous(conn: psycopg.Connection[Any], limit: int) -> int:
    """The licensed edition: TimescaleDB materialises the continuous aggregate; citywatch asks it to now for
    the hours ingest marked, so late and backfilled readings reach long charts within an analytics step
    rather than at the policy's next run. The hour still going on is left to real-time aggregation
    (materialising it would hide its later readings until it is materialised again)."""
    cagg = conn.execute(
        "SELECT 1 FROM timescaledb_information.continuous_aggregates WHERE view_name = %s", (ROLLUP,)
    ).fetchone()
    if cagg is None:  # nothing to keep
        conn.execute("DELETE FROM rollup_invalidations WHERE rollup = %s", (ROLLUP,))
        return 0
    hours = [
        r[0]
        for r in conn.execute(
            "SELECT bucket FROM rollup_invalidations WHERE rollup = %s AND bucket < time_bucket('1 hour', now())"
            " ORDER BY bucket LIMIT %s",
            (ROLLUP, limit),
        )
    ]
    if not hours:
        return 0
    # (a window covering untouched hours costs nothing: TimescaleDB recomputes only what it saw change)
    try:
        conn.execute(
            f"CALL refresh_continuous_aggregate('{ROLLUP}', %s::timestamptz, %s::timestamptz + interval '1 hour')",
            (min(hours), max(hours)),
        )
    except psycopg.errors.InsufficientPrivilege:
        # only the aggregate's owner may refresh it: a service connected as its own role (citywatch.db.roles)
        # leaves those hours to TimescaleDB's refresh policy, which runs every minute
        conn.execute("DELETE FROM rollup_invalidations WHERE rollup = %s", (ROLLUP,))
        return 0
    conn.execute("DELETE FROM rollup_invalidations WHERE rollup = %s AND bucket = ANY(%s)", (ROLLUP, hours))
    return len(hours)


def refresh_all(conninfo: str, limit: int = 24) -> int:
    """Refresh until nothing is left (after a backfill)."""
    done = 0
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while n := refresh(conn, limit):
            done += n
    return done
