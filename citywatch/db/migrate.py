"""Versioned schema migrations (``migrations/NNNN_name.sql``), applied in order,
each in its own transaction, under an advisory lock so that several services
starting at once apply each migration exactly once."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from importlib import resources

import psycopg

log = logging.getLogger(__name__)
_LOCK_KEY = 0x63697479  # "city"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    out = []
    for entry in resources.files("citywatch.db").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            number, _, rest = entry.name.partition("_")
            out.append(Migration(int(number), rest.removesuffix(".sql"), entry.read_text()))
    return sorted(out, key=lambda m: m.version)


def wait_for_database(conninfo: str, timeout_s: float, every_s: float = 1.0) -> None:
    """Until the database accepts a connection (a container's server may still be starting, or running its
    init scripts); the last error once ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    said = False
    while True:
        try:
            psycopg.connect(conninfo, connect_timeout=5).close()
            return
        except psycopg.OperationalError as e:
            if time.monotonic() >= deadline:
                raise
            if not said:
                log.info("waiting for the database (%s)", str(e).strip().splitlines()[-1])
                said = True
            time.sleep(every_s)


def migrate(conninfo: str, upto: int | None = None) -> list[Migration]:
    """Apply every pending migration (up to version ``upto``); returns those applied."""
    applied: list[Migration] = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for m in available():
                if m.version in done or (upto is not None and m.version > upto):
                    continue
                log.info("applying migration %04d_%s", m.version, m.name)
                with conn.transaction():
                    conn.execute(m.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (m.version, m.name)
                    )
                applied.append(m)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied
