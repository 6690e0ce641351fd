"""Least privilege: a database role per service, granted exactly what citywatch.db.roles says and nothing
else. The API and the Grafana panels run as their roles throughout the suite (conftest.start_api,
test_grafana's city: ingest, the bell and the analytics too); here, what each role must not do."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from citywatch.db import roles
from citywatch.db.schema import migrate_all, ready, version
from tests.support import as_role
from tools.localservices import PostgresServer

DENIED = psycopg.errors.InsufficientPrivilege


def test_each_role_has_exactly_the_grants_the_table_says(db_url: str) -> None:
    checked = 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        relations = roles._relations(conn)
        assert {"air_quality", "alerts", "api_users", "air_quality_1h"} <= set(relations)
        for service in roles.SERVICES:
            allowed = roles.privileges(service, relations)
            for relation in relations:
                for priv in ("SELECT", "INSERT", "UPDATE", "DELETE"):
                    row = conn.execute(
                        "SELECT has_table_privilege(%s, %s, %s)",
                        (roles.role(service), f"public.{relation}", priv),
                    ).fetchone()
                    assert row is not None
                    expected = priv in allowed.get(relation, "")
                    assert row[0] == expected, (service, relation, priv)
                    checked += 1
    assert checked == len(roles.SERVICES) * len(relations) * 4


@pytest.mark.parametrize(
    ("service", "statement"),
    [
        ("api", "DROP TABLE alerts"),
        ("api", "ALTER TABLE alerts ADD COLUMN x int"),
        ("api", "TRUNCATE air_quality"),
        ("ingest", "SELECT * FROM api_users"),
        ("ingest", "SELECT * FROM alerts"),
        ("ingest", "DELETE FROM air_quality"),
        ("ingest", "UPDATE air_quality SET pm25 = 0"),
        ("analytics", "SELECT * FROM api_keys"),
        ("analytics", "DELETE FROM air_quality"),
        ("boarding", "SELECT * FROM air_quality"),
        ("boarding", "SELECT * FROM api_users"),
        ("grafana", "INSERT INTO zones (zone_id, name) VALUES ('z', 'z')"),
        ("grafana", "UPDATE alerts SET state = 'resolved'"),
        ("grafana", "DELETE FROM devices"),
        ("grafana", "SELECT * FROM api_users"),
        ("grafana", "SELECT * FROM api_keys"),
        ("grafana", "CREATE TABLE mine (x int)"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " not in v else None,
)
def test_a_role_cannot_do_what_it_must_not(db_url: str, service: str, statement: str) -> None:
    with psycopg.connect(as_role(db_url, service), autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (roles.role(service),)
        with pytest.raises(DENIED):
            conn.execute(statement)


def test_the_api_connects_as_its_role_and_grafana_reads_the_rollups(db_url: str) -> None:
    with psycopg.connect(as_role(db_url, "grafana"), autocommit=True) as conn:
        for rollup in ("air_quality_1m", "air_quality_1h", "bus_activity_1m"):
            conn.execute(f"SELECT * FROM {rollup} LIMIT 1")  # a view, a table or a continuous aggregate
    with psycopg.connect(as_role(db_url, "api"), autocommit=True) as conn:
        conn.execute("INSERT INTO zones (zone_id, name) VALUES ('z-roles', '역할')")
        assert conn.execute("SELECT name FROM zones WHERE zone_id = 'z-roles'").fetchone() == ("역할",)


def test_a_service_started_before_the_migrations_waits_for_them(pg: PostgresServer) -> None:
    url = pg.create_database("roles_wait")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("GRANT CONNECT ON DATABASE roles_wait TO citywatch_ingest")
    ingest = as_role(url, "ingest")
    assert version(ingest) is None  # nothing yet
    started: list[bool] = []
    waiter = threading.Thread(target=lambda: started.append(ready(ingest, wait_s=60, every_s=0.1) is None))
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive() and started == []  # waiting: it may not migrate, and there is nothing yet
    migrate_all(url)  # the owner
    waiter.join(30)
    assert started == [True] and version(ingest) is not None
    with pytest.raises(RuntimeError, match="this code needs"):  # a schema that never comes is said so
        ready(as_role(pg.create_database("roles_never"), "ingest"), wait_s=0.3, every_s=0.1)


def test_passwords_make_a_role_a_login(pg: PostgresServer) -> None:
    url = pg.create_database("roles_login")
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute("ALTER ROLE citywatch_grafana NOLOGIN")
    try:
        migrate_all(url)
        with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
            psycopg.connect(as_role(url, "grafana")).close()
        migrate_all(url, {"grafana": "p@ss/word"})
        with psycopg.connect(as_role(url, "grafana")) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("citywatch_grafana",)
    finally:
        with psycopg.connect(pg.admin_url, autocommit=True) as conn:
            conn.execute("ALTER ROLE citywatch_grafana LOGIN")


def test_services_started_together_migrate_and_grant_once_each(pg: PostgresServer) -> None:
    url = pg.create_database("roles_race")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate_all(url)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    with psycopg.connect(as_role(url, "grafana")) as conn:
        assert conn.execute("SELECT count(*) FROM devices").fetchone() == (0,)
