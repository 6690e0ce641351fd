"""Upgrades: a database made by an early release's migrations, holding data, migrates to head (and gets the
edition's features and the services' roles) with every row it held intact."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import psycopg

from citywatch.db.migrate import available, migrate
from citywatch.db.schema import migrate_all
from tests.support import as_role
from tools.localservices import PostgresServer

FIXTURE = Path(__file__).parents[1] / "fixtures" / "upgrade-141b50b.sql"


def _old_tables(conn: psycopg.Connection) -> dict[str, list[str]]:  # type: ignore[type-arg]
    """Each table of the public schema with its columns, as they are now."""
    out: dict[str, list[str]] = {}
    for table, column in conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        " AND table_name IN (SELECT tablename FROM pg_tables WHERE schemaname = 'public')"
        " ORDER BY table_name, ordinal_position"
    ):
        out.setdefault(table, []).append(column)
    return out


def _fingerprint(conn: psycopg.Connection, tables: dict[str, list[str]]) -> dict[str, tuple[int, str]]:  # type: ignore[type-arg]
    out = {}
    for table, columns in tables.items():
        cols = ", ".join(f'"{c}"' for c in columns)
        row = conn.execute(
            f"SELECT count(*), coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '')"
            f" FROM (SELECT {cols} FROM {table}) r"
        ).fetchone()
        assert row is not None
        out[table] = (int(row[0]), str(row[1]))
    return out


def test_a_database_from_the_first_release_migrates_to_head_with_every_row(pg: PostgresServer) -> None:
    text = FIXTURE.read_text()
    shipped = dict(re.findall(r"^--\s+(\d{4}_\S+\.sql) sha256 ([0-9a-f]{64})$", text, re.M))
    assert len(shipped) == 9
    ours = {f"{m.version:04d}_{m.name}.sql": hashlib.sha256(m.sql.encode()).hexdigest() for m in available()}
    assert {k: ours[k] for k in shipped} == shipped  # the migrations that release shipped, unchanged

    url = pg.create_database("upgrade_141b50b")
    assert [m.version for m in migrate(url, upto=9)] == list(range(1, 10))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(text.encode())
        tables = _old_tables(conn)
        before = _fingerprint(conn, tables)
    empty = sorted(t for t, (n, _) in before.items() if n == 0 and t != "schema_migrations")
    assert empty == [], f"the fixture leaves tables of that schema empty: {empty}"

    applied, _features = migrate_all(url)
    assert [m.version for m in applied] == [m.version for m in available() if m.version > 9]
    # bookkeeping that the upgrade adds to by design: the migrations applied, and every hour of readings
    # marked for the hourly rollup that the Apache edition's features build
    grown = ("schema_migrations", "rollup_invalidations")
    with psycopg.connect(url, autocommit=True) as conn:
        after = _fingerprint(conn, tables)
        assert {t: v for t, v in after.items() if t not in grown} == {
            t: v for t, v in before.items() if t not in grown
        }  # every row, every column it had, as it was
        assert all(after[t][0] >= before[t][0] for t in grown)
        assert conn.execute(
            "SELECT count(*) FROM rollup_invalidations WHERE bucket = '2026-11-22 03:00+00'"
        ).fetchone() == (1,)
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (
            available()[-1].version,
        )
        # what later releases added is there, with its defaults on the old rows
        assert conn.execute("SELECT count(*) FROM alerts WHERE escalation_level IS NULL").fetchone() == (0,)
    with psycopg.connect(as_role(url, "api"), autocommit=True) as conn:  # and the roles reach the old rows
        assert conn.execute("SELECT count(*) FROM alerts").fetchone() == (2,)
