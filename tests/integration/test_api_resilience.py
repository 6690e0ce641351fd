"""The API across a database restart: its pooled connections die with the server; the first requests
after it are answered, not failed one stale connection at a time."""

from __future__ import annotations

import psycopg

from tests.support import Api


def test_requests_after_the_database_dropped_every_connection_are_answered(api: Api) -> None:
    with api.client("viewer") as c:
        assert c.get("/api/v1/devices").status_code == 200  # the pool holds live connections now
        with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
            killed = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert killed is not None and killed[0] >= 2  # the pool's connections (min_size 2) among them
        codes = [c.get(path).status_code for path in ("/readyz", "/api/v1/devices", "/api/v1/alerts") * 3]
    assert codes == [200] * 9
