"""TimescaleDB adapter for ingest: one transaction per batch.

Rows go by binary COPY straight into their hypertable, inside a savepoint; if
any of them is already there (a redelivery after a crash, a second worker)
the COPY fails on the unique key and the batch takes the idempotent path
instead: binary COPY into a temporary staging table, then ``INSERT ... ON
CONFLICT DO NOTHING RETURNING key``. Either way a redelivered message makes no
second row and is counted as a duplicate, and the common case costs one COPY. Dead letters, per-device
sequence accounting and the worker's counters commit in the same transaction,
so every figure stays exact however the process dies.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from citywatch.contracts.topics import DeviceKind
from ingest.batching import Grouped, key_of
from ingest.decode import DeviceInfo, digest
from ingest.rows import DEAD_LETTERS, Row, TableSpec
from ingest.sequence import SeqState, advance

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchResult:
    received: int
    written: int
    duplicates: int
    dead_lettered: int
    gaps: int  # change in the number of missing sequence numbers
    written_by_table: dict[str, int] = field(default_factory=dict)
    dead_by_reason: dict[str, int] = field(default_factory=dict)


class Store:
    def __init__(self, conninfo: str, worker: str) -> None:
        self.conninfo = conninfo
        self.worker = worker
        self._conn: psycopg.Connection[Any] | None = None
        self._staged: set[str] = set()

    def connect(self) -> None:
        self.close()
        self._conn = psycopg.connect(self.conninfo, application_name=f"citywatch-ingest:{self.worker}")
        self._staged = set()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self.connect()
        assert self._conn is not None
        return self._conn

    def load_registry(self) -> dict[str, DeviceInfo]:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            rows = conn.execute("SELECT device_id, kind, status, meta->>'gateway' FROM devices").fetchall()
        return {d: DeviceInfo(DeviceKind(k), s == "active", g) for d, k, s, g in rows}

    def _stage(self, cur: psycopg.Cursor[Any], spec: TableSpec, rows: list[Row]) -> list[tuple[Any, ...]]:
        stage = f"_stage_{spec.name}"
        if spec.name not in self._staged:
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {spec.name} INCLUDING DEFAULTS) "
                "ON COMMIT DELETE ROWS"
            )
            self._staged.add(spec.name)
        cols = ", ".join(spec.columns)
        with cur.copy(f"COPY {stage} ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(spec.types))
            for row in rows:
                copy.write_row(row)
        cur.execute(
            f"INSERT INTO {spec.name} ({cols}) SELECT {cols} FROM {stage} "
            f"ON CONFLICT DO NOTHING RETURNING {', '.join(spec.key)}"
        )
        return cur.fetchall()

    def _insert(
        self, cur: psycopg.Cursor[Any], spec: TableSpec, rows: list[Row]
    ) -> list[tuple[Any, ...]] | None:
        """The keys of the rows that are new; None when the direct COPY went through (all of them are)."""
        try:
            cols = ", ".join(spec.columns)
            with (
                cur.connection.transaction(),  # a savepoint: a clash undoes only this COPY
                cur.copy(f"COPY {spec.name} ({cols}) FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types(list(spec.types))
                for row in rows:
                    copy.write_row(row)
            return None
        except psycopg.errors.UniqueViolation:  # a row already stored: the idempotent path
            return self._stage(cur, spec, rows)

    def write(self, g: Grouped, received: int, now: datetime) -> BatchResult:
        conn = self.conn
        by_table: dict[str, int] = {}
        by_reason: dict[str, int] = defaultdict(int)
        with conn.transaction(), conn.cursor() as cur:
            inserted: set[tuple[str, tuple[Any, ...]]] = set()  # new rows' keys, for tables that met a clash
            whole: set[str] = set()  # tables whose rows all went in
            # tables in one fixed order: a COPY that opens a new chunk locks its hypertable until commit,
            # and two workers taking two hypertables in opposite orders deadlock
            for name in sorted(g.rows):
                spec, rows = g.rows[name]
                keys = self._insert(cur, spec, rows)
                if keys is None:
                    whole.add(spec.name)
                    by_table[spec.name] = len(rows)
                else:
                    by_table[spec.name] = len(keys)
                    inserted.update((spec.name, tuple(key)) for key in keys)
            written = sum(by_table.values())
            if g.rejected:
                dl_rows: list[Row] = [
                    (
                        now,
                        topic.decode("utf-8", "replace"),
                        payload,
                        why.reason.value,
                        why.detail,
                        why.device_id,
                        digest(topic, payload),
                    )
                    for why, topic, payload in g.rejected
                ]
                new = {k[0] for k in self._stage(cur, DEAD_LETTERS, dl_rows)}
                for row in dl_rows:
                    if row[-1] in new:
                        by_reason[row[3]] += 1
            dead = sum(by_reason.values())
            gaps = self._account_sequences(cur, g, inserted, whole)
            if by_table.get("air_quality"):
                # the hours the chart rollup must recompute (citywatch.db.rollups), in this transaction
                hours = sorted({int(row[0].timestamp()) // 3600 * 3600 for row in g.rows["air_quality"][1]})
                cur.execute(
                    "INSERT INTO rollup_invalidations (rollup, bucket) SELECT 'air_quality_1h', to_timestamp(h)"
                    " FROM unnest(%s::bigint[]) AS h ON CONFLICT DO NOTHING",
                    (hours,),
                )
            duplicates = received - written - dead
            cur.execute(
                "INSERT INTO ingest_counters AS c (worker, received, written, duplicates, dead_lettered, batches,"
                " updated_at) VALUES (%s, %s, %s, %s, %s, 1, now()) ON CONFLICT (worker) DO UPDATE SET"
                " received = c.received + excluded.received, written = c.written + excluded.written,"
                " duplicates = c.duplicates + excluded.duplicates,"
                " dead_lettered = c.dead_lettered + excluded.dead_lettered, batches = c.batches + 1,"
                " updated_at = now()",
                (self.worker, received, written, duplicates, dead),
            )
            cur.execute("NOTIFY citywatch_ingest")  # delivered at commit: wakes the analytics service
        return BatchResult(received, written, duplicates, dead, gaps, by_table, dict(by_reason))

    def _account_sequences(
        self,
        cur: psycopg.Cursor[Any],
        g: Grouped,
        inserted: set[tuple[str, tuple[Any, ...]]],
        whole: set[str],
    ) -> int:
        per_device: dict[tuple[str, str], list[tuple[int, datetime]]] = defaultdict(list)
        last: dict[tuple[str, str], tuple[datetime, datetime]] = {}
        for a in g.accepted:
            if a.seq is None or (
                a.table.name not in whole and (a.table.name, key_of(a.table, a.row)) not in inserted
            ):
                continue
            k = (a.device_id, a.stream.value)
            per_device[k].append((a.seq, a.time))
            prev = last.get(k)
            received_at = a.row[-1]
            if prev is None or a.time > prev[0]:
                last[k] = (a.time, received_at)
        if not per_device:
            return 0
        keys = sorted(per_device)  # a fixed lock order: no deadlocks between workers
        devices = sorted({k[0] for k in keys})
        interval = dict(
            cur.execute(
                "SELECT device_id, expected_interval_s FROM devices WHERE device_id = ANY(%s)", (devices,)
            ).fetchall()
        )
        cur.execute(
            "SELECT device_id, stream, last_seq, max_seq, received, gaps, resets, jumps, before_jump, last_time"
            " FROM device_streams WHERE (device_id, stream) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
            " ORDER BY device_id, stream FOR UPDATE",
            ([k[0] for k in keys], [k[1] for k in keys]),
        )
        before = {(r[0], r[1]): SeqState(*r[2:]) for r in cur.fetchall()}
        params = []
        delta = 0
        for k in keys:
            old = before.get(k)
            new = advance(old, per_device[k], interval.get(k[0]))
            assert new is not None
            delta += new.gaps - (old.gaps if old else 0)
            t, r = last[k]
            params.append(
                (k[0], k[1], new.last_seq, new.max_seq, new.received, new.gaps, new.resets, new.jumps,
                 new.before_jump, t, r)
            )  # fmt: skip
        cur.executemany(
            "INSERT INTO device_streams AS s (device_id, stream, last_seq, max_seq, received, gaps, resets, jumps,"
            " before_jump, last_time, last_received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (device_id, stream) DO UPDATE SET last_seq = excluded.last_seq,"
            " max_seq = excluded.max_seq, received = excluded.received, gaps = excluded.gaps,"
            " resets = excluded.resets, jumps = excluded.jumps, before_jump = excluded.before_jump,"
            " last_time = greatest(s.last_time, excluded.last_time),"
            " last_received_at = greatest(s.last_received_at, excluded.last_received_at)",
            params,
        )
        return delta
