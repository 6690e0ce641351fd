"""Migrations, hypertables and the licence-dependent features on each TimescaleDB edition."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from citywatch.db import features, rollups
from citywatch.db.migrate import available, migrate, wait_for_database
from tools.localservices import PostgresServer, free_port

STREAMS = {
    "air_quality": "7 days",
    "parking_events": "7 days",
    "cctv_events": "7 days",
    "bus_positions": "1 day",
    "stop_requests": "30 days",
    "device_status": "30 days",
}


def test_migrations_are_idempotent_and_safe_to_run_concurrently(pg: PostgresServer) -> None:
    url = pg.create_database("migrate_race")
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(len(migrate(url)))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 0, len(available())]
    assert migrate(url) == []


def test_every_stream_is_a_hypertable_with_its_chunk_interval(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        rows = dict(
            conn.execute(
                "SELECT hypertable_name, time_interval::text FROM timescaledb_information.dimensions"
            ).fetchall()
        )
    assert {k: v for k, v in rows.items() if k in STREAMS} == STREAMS


@pytest.mark.edition("apache")
def test_apache_edition_falls_back_to_views_and_a_kept_rollup(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        f = features.detect(conn)
        assert f.licence == "apache"
        assert not f.continuous_aggregates and not f.compression and not f.policies
        kinds = dict(
            conn.execute(
                "SELECT relname, relkind::text FROM pg_class WHERE relname = ANY(%s)",
                (list(features.ROLLUPS),),
            ).fetchall()
        )
        # long charts read a table citywatch keeps (citywatch.db.rollups); the others are views
        assert kinds == {**dict.fromkeys(features.ROLLUPS, "v"), "air_quality_1h": "r"}
        t = datetime(2026, 1, 1, tzinfo=UTC)
        conn.execute(
            "INSERT INTO air_quality (time, device_id, seq, pm25, received_at) VALUES"
            " (%s, 'a', 1, 10, now()), (%s, 'a', 2, 20, now()), (%s, 'a', 3, 60, now())",
            (t, t + timedelta(seconds=30), t + timedelta(hours=1)),
        )
        rollups.invalidate_all(conn)  # (written around ingest, which would have marked the hours)
        assert rollups.refresh(conn) == 2
        rows = conn.execute("SELECT bucket, pm25, samples FROM air_quality_1h ORDER BY bucket").fetchall()
        assert [(r[1], r[2]) for r in rows] == [(15.0, 2), (60.0, 1)]
    # applying again changes nothing and does not fail
    assert features.apply(db_url).licence == "apache"


def test_retention_drops_only_old_chunks(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        old = datetime.now(UTC) - timedelta(days=60)
        conn.execute(
            "INSERT INTO bus_positions VALUES (%s,'b',1,'r',37,127,10,0,false,now()),"
            " (now(),'b',2,'r',37,127,10,0,false,now())",
            (old,),
        )
    dropped = features.drop_expired_chunks(db_url)
    assert dropped["bus_positions"] == 1
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT seq FROM bus_positions").fetchall() == [(2,)]


def test_migrate_waits_for_a_database_that_is_starting(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path / "late", free_port(), durable=False)
    server.init()
    starter = threading.Timer(1.5, server.start)  # not up yet when the wait begins
    starter.start()
    try:
        wait_for_database(server.admin_url, timeout_s=60, every_s=0.2)
        with psycopg.connect(server.admin_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        starter.join()
        server.stop()


def test_migrate_gives_up_with_the_error_after_its_wait() -> None:
    with pytest.raises(psycopg.OperationalError, match=r"refused|failed"):
        wait_for_database(f"postgresql://x@127.0.0.1:{free_port()}/x", timeout_s=0.5, every_s=0.1)
