"""The backup and restore drill, on each edition: pg_dump of a database holding every stream (compressed
chunks too, where the edition compresses), alerts and accounts; pg_restore with TimescaleDB's restore steps
into an empty database; every row back, the hypertables still hypertables, the services' roles granted."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from alerts import store
from alerts.model import Acknowledge, Explanation, Raise, Severity
from citywatch.db import backup, features
from simulators.engine import simulate
from simulators.publisher import Publisher
from tests.support import (
    DATA_TABLES,
    SECRET,
    IngestThread,
    Platform,
    as_role,
    wait_for,
)
from tools.localservices import PostgresServer, free_port

TABLES = (*DATA_TABLES, "device_status", "devices", "alerts", "alert_audit", "dead_letters", "device_streams")


def _fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Rows and an md5 of all of them, in a fixed order, per table."""
    out = {}
    with psycopg.connect(url) as conn:
        for t in TABLES:
            row = conn.execute(
                f"SELECT count(*), coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM {t} x"
            ).fetchone()
            assert row is not None
            out[t] = (int(row[0]), str(row[1]))
    return out


def _city_with_history(p: Platform, compress: bool) -> tuple[int, list[tuple[str]]]:
    """Readings of every stream, from now and from weeks ago, a dead letter, an acknowledged alert; the old
    chunks compressed when asked (the licensed edition). Returns (compressed chunks, hypertables)."""
    with psycopg.connect(p.db_url, autocommit=True) as conn:
        if features.detect(conn).policies:  # the test compresses, or not: never the policy behind its back
            conn.execute(
                "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs"
                " WHERE proc_name = 'policy_compression'"
            )
    end = datetime.now(UTC).timestamp() - 60
    old = end - 20 * 86400  # weeks old: past every compress_after
    outs = [o for o in simulate(p.city, old, old + 600, seed=5) if o.tag is None and o.payload]
    outs += [
        o for o in simulate(p.city, end - 1800, end, seed=6, first_seq=100_000) if o.tag is None and o.payload
    ]
    with IngestThread(p.settings()) as service:
        pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
        pub.open([])
        for o in outs:
            pub.send_raw(o.topic, o.payload)
        pub.send_raw(outs[0].topic, b"{broken")  # a dead letter
        assert pub.flush(30)
        pub.close()
        assert wait_for(lambda: service.inbound >= len(outs) + 1, 60)
    with psycopg.connect(p.db_url, autocommit=True) as conn:  # an alert, acknowledged: alerts and their audit
        raised = Raise(
            "cctv.fire", "cam-001", "cctv", Severity.CRITICAL, "화재", Explanation(rule="cctv.fire")
        )
        store.apply(conn, raised, datetime.now(UTC))
        store.apply(conn, Acknowledge("operator"), datetime.now(UTC), alert_id=1)
    with psycopg.connect(p.db_url, autocommit=True) as conn:
        if compress:  # the old chunks compressed, as the policy would
            for t in features.COMPRESS_AFTER:
                conn.execute(
                    f"SELECT compress_chunk(c, true) FROM show_chunks('{t}', older_than => INTERVAL '7 days') c"
                )
        compressed = conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks WHERE is_compressed"
        ).fetchone()
        hypertables = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1"
        ).fetchall()
    assert compressed is not None and (compressed[0] > 0) == compress
    return int(compressed[0]), hypertables


def test_a_backup_restores_every_row_into_an_empty_database(
    platform: Platform, pg: PostgresServer, tmp_path: Path
) -> None:
    """Both editions; on the licensed one without compressed chunks (see the next test)."""
    p = platform
    compressed, hypertables = _city_with_history(p, compress=False)
    before = _fingerprint(p.db_url)
    assert before["air_quality"][0] > 0 and before["alerts"][0] >= 1 and before["dead_letters"][0] == 1

    dump = backup.backup(p.db_url, tmp_path / "citywatch.dump", pg.bindir)
    target = pg.create_database(f"restored_{tmp_path.name[-8:].replace('-', '_')}")
    backup.restore(target, dump, pg.bindir)

    assert _fingerprint(target) == before  # every row, byte for byte
    with psycopg.connect(target, autocommit=True) as conn:
        assert (
            conn.execute(
                "SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1"
            ).fetchall()
            == hypertables
        )
        assert conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks WHERE is_compressed"
        ).fetchone() == (compressed,)
    with psycopg.connect(
        as_role(target, "ingest"), autocommit=True
    ) as conn:  # the services' roles work on it
        conn.execute(
            "INSERT INTO air_quality (time, device_id, seq, pm25, received_at) VALUES (now(), 'aq-001', 999999, 1, now())"
        )
    with psycopg.connect(as_role(target, "grafana"), autocommit=True) as conn:
        n = conn.execute("SELECT count(*) FROM air_quality").fetchone()
        assert n is not None and n[0] == before["air_quality"][0] + 1


@pytest.mark.edition("tsl")
def test_timescaledb_2_19_3_cannot_restore_its_own_compressed_chunks(
    platform: Platform, pg: PostgresServer, tmp_path: Path
) -> None:
    """A known upstream defect (timescale/timescaledb#8893, fixed by #8153 after 2.19.3): a compressed batch
    whose column is all NULL is dumped as NULL compression ('Bg=='), which 2.19.3 cannot read back. citywatch's
    streams have such columns (a CCTV event's object count, a reading without PM10), so a pg_dump of compressed
    chunks does not restore: README, "Backup and restore", gives the physical backup for this edition. When this
    test fails, the TimescaleDB in use restores them: compress the chunks in the drill above and drop this one."""
    compressed, _ = _city_with_history(platform, compress=True)
    assert compressed > 0
    dump = backup.backup(platform.db_url, tmp_path / "citywatch.dump", pg.bindir)
    target = pg.create_database(f"restored_{tmp_path.name[-8:].replace('-', '_')}")
    with pytest.raises(RuntimeError, match=r"COPY failed for table \"compress_hyper_.*returned NULL"):
        backup.restore(target, dump, pg.bindir)


def test_a_base_backup_brings_back_every_row_compressed_chunks_too(
    platform: Platform, pg: PostgresServer, tmp_path: Path
) -> None:
    """The physical drill, on each edition, with the old chunks compressed where the edition compresses:
    pg_basebackup of the running server, a server started on the copy, every row there."""
    with psycopg.connect(platform.db_url, autocommit=True) as conn:
        compress = features.detect(conn).compression
    compressed, hypertables = _city_with_history(platform, compress=compress)
    before = _fingerprint(platform.db_url)
    copy = PostgresServer(tmp_path / "copy", free_port(), durable=False, bindir=pg.bindir)
    copy.data_dir.mkdir(parents=True)
    run_as: list[str] = []
    if os.geteuid() == 0:  # the server runs as postgres: the copy is made as postgres, in a place it reaches
        subprocess.run(["chown", "postgres", str(copy.data_dir)], check=True)
        for d in (tmp_path, *tmp_path.parents):
            d.chmod(d.stat().st_mode | 0o011)
        run_as = ["runuser", "-u", "postgres", "--"]
    backup.base_backup(pg.admin_url, copy.data_dir / "pgdata", pg.bindir, run_as)
    copy.start()
    try:
        url = platform.db_url.replace(f":{pg.port}/", f":{copy.port}/")
        assert _fingerprint(url) == before
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute(
                "SELECT count(*) FROM timescaledb_information.chunks WHERE is_compressed"
            ).fetchone() == (compressed,)
            assert (
                conn.execute(
                    "SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1"
                ).fetchall()
                == hypertables
            )
    finally:
        copy.stop()
