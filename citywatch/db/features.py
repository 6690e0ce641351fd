"""TimescaleDB features that depend on the server's licence.

The Apache-2 edition (Debian's build, used by `make up` and the tests) has
hypertables, ``time_bucket`` and ``drop_chunks``. The Timescale License edition
(the official ``timescale/timescaledb`` Docker image used by docker-compose.yml)
adds compression, retention/compression policies and continuous aggregates.

:func:`apply` gives the same query surface on both: the rollups
``air_quality_1m`` / ``air_quality_1h`` and ``bus_activity_1m`` are continuous
aggregates with real-time aggregation where available (the hour still going on is
answered from the raw rows, as on Apache); otherwise ``air_quality_1h`` (what long
charts read) is a table that citywatch keeps itself (:mod:`citywatch.db.rollups`)
and the others are views. Compressed chunks keep every unique key
(:func:`compress_orderby`).
Policies exist only on the TSL edition; on Apache, ``citywatch db retention``
drops old chunks by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import psycopg

from citywatch.db import rollups
from citywatch.db.privacy import erase_plates
from citywatch.settings import PrivacySettings

log = logging.getLogger(__name__)

#: How long raw rows are kept (CCTV: CITYWATCH_PRIVACY_CCTV_RETENTION_DAYS), and after how long chunks
#: are compressed.
RETENTION: dict[str, str] = {
    "air_quality": "400 days",
    "parking_events": "400 days",
    "parking_counts": "400 days",
    "cctv_events": "90 days",
    "bus_positions": "30 days",
    "stop_requests": "400 days",
    "device_status": "400 days",
}


def retention(privacy: PrivacySettings | None = None) -> dict[str, str]:
    """RETENTION with the CCTV period from the privacy settings."""
    p = privacy or PrivacySettings()
    return {**RETENTION, "cctv_events": f"{p.cctv_retention_days} days"}


COMPRESS_AFTER: dict[str, tuple[str, str]] = {  # table -> (segment by, after)
    "air_quality": ("device_id", "14 days"),
    "parking_events": ("device_id", "14 days"),
    "parking_counts": ("device_id", "14 days"),
    "cctv_events": ("device_id", "14 days"),
    "bus_positions": ("device_id", "2 days"),
}


def compress_orderby(conn: psycopg.Connection, table: str, segment_by: str) -> str:
    """``time DESC`` and then every other column of the table's unique keys, in key order.

    TimescaleDB checks a unique key on a compressed chunk by decompressing the batches a new row could
    clash with, found by the key's segment-by and order-by columns: a key column in neither (``seq``;
    ``event_id`` on ``cctv_events``) leaves it to decompress every batch of the device and time (and
    TimescaleDB warns, "column should be used for segmenting or ordering"). Read from the catalogue, so
    a key added by a migration is covered without a second list here."""
    rows = conn.execute(
        "SELECT a.attname FROM pg_constraint c"
        " CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum"
        " WHERE c.conrelid = %s::regclass AND c.contype IN ('u', 'p') ORDER BY c.conname, k.n",
        (table,),
    ).fetchall()
    cols = ["time"]
    for (name,) in rows:
        if name not in cols and name != segment_by:
            cols.append(name)
    return ", ".join(["time DESC", *cols[1:]])


_POLLUTANTS = "pm10, pm25, o3, no2, co, so2, temp_c, rh"


def _aq_rollup(bucket: str) -> str:
    aggs = ", ".join(f"avg({p}) AS {p}" for p in _POLLUTANTS.split(", "))
    return (
        f"SELECT time_bucket(INTERVAL '{bucket}', time) AS bucket, device_id, {aggs}, count(*) AS samples "
        "FROM air_quality GROUP BY 1, 2"
    )


ROLLUPS: dict[str, str] = {
    "air_quality_1m": _aq_rollup("1 minute"),
    "air_quality_1h": _aq_rollup("1 hour"),
    "bus_activity_1m": (
        "SELECT time_bucket(INTERVAL '1 minute', time) AS bucket, route_id, "
        "count(DISTINCT device_id) AS buses, avg(speed_kmh) AS avg_speed_kmh, count(*) AS samples "
        "FROM bus_positions GROUP BY 1, 2"
    ),
}


@dataclass
class Features:
    licence: str
    continuous_aggregates: bool
    compression: bool
    policies: bool
    notes: list[str] = field(default_factory=list)


def licence(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return str(row[0]) if row and row[0] else "apache"


def detect(conn: psycopg.Connection) -> Features:
    lic = licence(conn)
    tsl = lic == "timescale"
    return Features(licence=lic, continuous_aggregates=tsl, compression=tsl, policies=tsl)


def _relkind(conn: psycopg.Connection, name: str) -> str | None:
    row = conn.execute(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates "
        " WHERE view_name = %s) THEN 'cagg' ELSE (SELECT relkind::text FROM pg_class "
        " WHERE relname = %s AND relnamespace = 'public'::regnamespace) END",
        (name, name),
    ).fetchone()
    return None if row is None else row[0]


def apply(conninfo: str) -> Features:
    """Create the rollups and (where licensed) the policies; idempotent."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        f = detect(conn)
        for name, query in ROLLUPS.items():
            kind = _relkind(conn, name)
            if f.continuous_aggregates:
                if kind in ("v", "r"):  # a view, or the Apache edition's kept table: TimescaleDB keeps it now
                    conn.execute(f"DROP {'VIEW' if kind == 'v' else 'TABLE'} {name}")
                    kind = None
                if kind is None:
                    conn.execute(
                        f"CREATE MATERIALIZED VIEW {name} WITH (timescaledb.continuous) AS {query} WITH NO DATA"
                    )
                    start = "'3 days'" if name.endswith("1m") else "'30 days'"
                    conn.execute(
                        f"SELECT add_continuous_aggregate_policy('{name}', start_offset => INTERVAL {start}, "
                        "end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute', "
                        "if_not_exists => true)"
                    )
                # real-time aggregation: what the policy has not materialised yet (the current hour, the
                # last minute) is computed from the raw rows at query time, as the Apache edition's views do
                conn.execute(f"ALTER MATERIALIZED VIEW {name} SET (timescaledb.materialized_only = false)")
            elif name == rollups.ROLLUP:
                # the chart rollup is materialised by citywatch itself (citywatch.db.rollups)
                if kind == "v":
                    conn.execute(f"DROP VIEW {name}")
                    kind = None
                if kind is None:
                    conn.execute(rollups.TABLE_DDL)
                    conn.execute(rollups.INDEX_DDL)
                    n = rollups.invalidate_all(conn)
                    f.notes.append(f"{name} is a table kept by citywatch ({n} hours to compute)")
            elif kind is None:
                conn.execute(f"CREATE VIEW {name} AS {query}")
        if f.compression:
            for table, (segment_by, after) in COMPRESS_AFTER.items():
                # (chunks compressed before a change of settings keep theirs: TimescaleDB stores them per chunk)
                conn.execute(
                    f"ALTER TABLE {table} SET (timescaledb.compress, "
                    f"timescaledb.compress_segmentby = '{segment_by}', "
                    f"timescaledb.compress_orderby = '{compress_orderby(conn, table, segment_by)}')"
                )
                conn.execute(
                    f"SELECT add_compression_policy('{table}', INTERVAL '{after}', if_not_exists => true)"
                )
        else:
            f.notes.append("compression off: needs the Timescale License edition")
        if f.policies:
            for table, keep in retention().items():
                conn.execute(
                    f"SELECT remove_retention_policy('{table}', if_exists => true)"
                )  # a changed period
                conn.execute(
                    f"SELECT add_retention_policy('{table}', INTERVAL '{keep}', if_not_exists => true)"
                )
        else:
            f.notes.append("no background policies: run `citywatch db retention` from cron")
            f.notes.append(
                "rollups are plain views (continuous aggregates need the Timescale License edition)"
            )
    log.info("TimescaleDB licence %s: %s", f.licence, "; ".join(f.notes) or "all features on")
    return f


def drop_expired_chunks(conninfo: str, privacy: PrivacySettings | None = None) -> dict[str, int]:
    """The Apache-edition substitute for retention policies (plates are erased, too)."""
    p = privacy or PrivacySettings()
    dropped: dict[str, int] = {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        dropped["plates_erased"] = erase_plates(conn, p.plate_retention_h)
        for table, keep in retention(p).items():
            rows = conn.execute(f"SELECT drop_chunks('{table}', older_than => INTERVAL '{keep}')").fetchall()
            dropped[table] = len(rows)
    return dropped
