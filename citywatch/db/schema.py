"""The schema a service needs, before it starts.

The migrations' role (the schema's owner: ``citywatch db migrate``, and every service of ``make up``)
applies the migrations, the edition's features and the service roles' grants. A service that connects
as its own role (docker-compose.yml) may not, and need not: it waits until the schema is at the version
its code expects, so that it never runs against a half-migrated database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import psycopg

from citywatch.db import features, roles
from citywatch.db.migrate import Migration, available, migrate, wait_for_database

log = logging.getLogger(__name__)
_LOCK_KEY = 0x63697461  # "cita": migrate_all (citywatch.db.migrate holds its own key inside)


def may_migrate(conninfo: str) -> bool:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT has_schema_privilege('public', 'CREATE')").fetchone()
    return bool(row and row[0])


def version(conninfo: str) -> int | None:
    """The newest migration applied, once this role's grants are in place (None: not yet). The owner
    grants last (migrations, features, then roles), each role's grants in one transaction: a role that
    may read the device registry has all of its grants."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('public.schema_migrations')").fetchone() == (None,):
            return None
        granted = conn.execute(  # (the table may not be there yet: NULL then, not an error)
            "SELECT coalesce(has_table_privilege(to_regclass('public.devices'), 'SELECT'), false)"
        ).fetchone()
        if not (granted and granted[0]):
            return None
        row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return None if row is None else row[0]


def migrate_all(
    conninfo: str, passwords: Mapping[str, str] | None = None
) -> tuple[list[Migration], features.Features]:
    """As the schema's owner: the pending migrations, the edition's features, the services' roles (in that
    order: a waiting service takes the roles' grants as the sign that the rest is done). One at a time
    (services started together each run it; concurrent grants on one table fail)."""
    with psycopg.connect(conninfo, autocommit=True) as lock:
        lock.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            applied = migrate(conninfo)
            f = features.apply(conninfo)
            roles.apply(conninfo, passwords)
        finally:
            lock.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied, f


def ready(
    conninfo: str,
    *,
    wait_s: float = 120.0,
    passwords: Mapping[str, str] | None = None,
    every_s: float = 2.0,
) -> None:
    """Migrate (when this role may), or wait until the schema is at this code's version."""
    wait_for_database(conninfo, wait_s)
    if may_migrate(conninfo):
        migrate_all(conninfo, passwords)
        return
    head = available()[-1].version
    deadline = time.monotonic() + wait_s
    said = False
    while (v := version(conninfo)) != head:
        if v is not None and v > head:
            raise RuntimeError(
                f"the database schema is at version {v}, newer than this code's {head}: upgrade it"
            )
        if time.monotonic() >= deadline:
            raise RuntimeError(
                f"the database schema is at version {v}, this code needs {head}: run `citywatch db migrate`"
                " as the schema's owner"
            )
        if not said:
            log.info(
                "waiting for the schema to reach version %d (now %s): migrations run as its owner", head, v
            )
            said = True
        time.sleep(every_s)
