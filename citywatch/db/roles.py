"""A database role per service, each granted only what it uses; the migrations' role owns the schema.

| role | may |
|---|---|
| ``citywatch_ingest`` | append to the streams and dead letters; keep its accounting; read the device registry |
| ``citywatch_analytics`` | read the city's data; keep the alerts, their deliveries and its own state; erase plates |
| ``citywatch_api`` | read everything; work alerts, users, keys, devices, places, maintenance windows and transit feeds |
| ``citywatch_boarding`` | keep the bell's requests and passes; raise alerts; read the registry and the transit feeds |
| ``citywatch_grafana`` | read everything but the accounts (``api_users``, ``api_keys``, ``api_audit``) |

No service role owns a table: none can create, alter or drop one. :func:`apply` (run by
``citywatch db migrate`` after the migrations and the edition's features) creates the roles and sets
their grants from :data:`GRANTS` alone, revoking anything else, so a table a later migration adds is
reachable only by the roles this table names it for; ``tests/integration/test_roles.py`` fails on a table that no
role may read. A role may log in once it has a password (``CITYWATCH_DB_ROLE_<SERVICE>``, or its
``_FILE``); the services connect as their own role (docker-compose.yml).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

SERVICES = ("ingest", "analytics", "api", "boarding", "grafana")
#: readable by no service role but the API: who may log in to it, who failed to, and what admins did there
ACCOUNTS = ("api_users", "api_keys", "api_audit", "login_failures", "terminal_pairings")
STREAMS = (
    "air_quality",
    "parking_events",
    "parking_counts",
    "cctv_events",
    "bus_positions",
    "stop_requests",
    "device_status",
)
ALERTING = ("alerts", "alert_audit", "alert_outbox", "alert_deliveries", "outbox_cursors")
REGISTRY = ("devices", "zones", "parking_lots")
WRITE = "SELECT, INSERT, UPDATE, DELETE"

#: role -> {table: privileges}; "*" is every table and view of the schema not named otherwise for the role
GRANTS: dict[str, dict[str, str]] = {
    "ingest": {
        **dict.fromkeys((*STREAMS, "driver_acks", "dead_letters"), "SELECT, INSERT"),
        **dict.fromkeys(
            ("device_streams", "ingest_counters", "rollup_invalidations"), "SELECT, INSERT, UPDATE"
        ),
        **dict.fromkeys((*REGISTRY, "schema_migrations"), "SELECT"),
    },
    "analytics": {
        "*": "SELECT",
        **dict.fromkeys(
            (
                *ALERTING,
                "analytics_state",
                "aq_hourly",
                "rollup_invalidations",
                "air_quality_1h",
                "maintenance",
            ),
            WRITE,
        ),
        "cctv_events": "SELECT, UPDATE",  # licence plates erased after their retention
    },
    "api": {
        "*": "SELECT",
        **dict.fromkeys((*ALERTING, *ACCOUNTS, *REGISTRY, "maintenance", "transit_feeds"), WRITE),
    },
    "boarding": {
        **dict.fromkeys((*ALERTING, "bell_requests", "bell_passes"), WRITE),
        **dict.fromkeys(
            (*REGISTRY, "maintenance", "stop_requests", "schema_migrations", "transit_feeds"), "SELECT"
        ),
    },
    "grafana": {"*": "SELECT"},
}


def role(service: str) -> str:
    return f"citywatch_{service}"


def _relations(conn: psycopg.Connection[Any]) -> list[str]:
    """Tables, views and materialised views (continuous aggregates) of the public schema."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace"
            " AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY 1"
        )
    ]


def privileges(service: str, relations: list[str]) -> dict[str, str]:
    """What ``service``'s role may do to each relation (relations it may not touch are absent)."""
    g = GRANTS[service]
    out = {r: g[r] for r in relations if r in g}
    if "*" in g:
        out.update({r: g["*"] for r in relations if r not in g and r not in ACCOUNTS})
    return out


def apply(conninfo: str, passwords: Mapping[str, str] | None = None) -> None:
    """Create the roles and set their grants (idempotent); give a role with a password its login."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        relations = _relations(conn)
        for service in SERVICES:
            name = sql.Identifier(role(service))
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role(service),)).fetchone():
                # (roles belong to the cluster: another database's migration may make it at the same time)
                with contextlib.suppress(psycopg.errors.DuplicateObject):
                    conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(name))
            if passwords and passwords.get(service):
                conn.execute(
                    sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(name, sql.Literal(passwords[service]))
                )
            _with_retries(functools.partial(_grant, conn, service, name, relations))
    log.info("database roles: %s", ", ".join(role(s) for s in SERVICES))


def _grant(conn: psycopg.Connection[Any], service: str, name: sql.Identifier, relations: list[str]) -> None:
    """A role's grants, exactly the table's, in one transaction."""
    with conn.transaction():
        conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(name))
        conn.execute(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {}").format(name))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(name))
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(conn.info.dbname), name)
        )
        for relation, privs in privileges(service, relations).items():
            conn.execute(
                sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(privs), sql.Identifier(relation), name)
            )
        if service != "grafana":  # (bigserial ids of the rows they insert)
            conn.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(name))


def _with_retries(work: Callable[[], None], attempts: int = 6) -> None:
    """``work``, again after a moment when TimescaleDB's background jobs held a chunk it touches (on the
    licensed edition a compression or retention job may drop or rewrite a chunk while its hypertable's
    grants change: ``chunk deleted by other transaction``, retry)."""
    for attempt in range(attempts):
        try:
            work()
            return
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * 2**attempt)
