"""Backup and restore: ``pg_dump`` / ``pg_restore`` with TimescaleDB's restore steps.

A backup is one ``pg_dump`` custom-format file of the whole database (hypertables, their chunks,
compressed or not, continuous aggregates and TimescaleDB's catalogue). A restore goes into an empty
database of a server with the same TimescaleDB version: the extension is created, TimescaleDB is put in
restoring mode (``timescaledb_pre_restore()``: no background jobs, no catalogue triggers), the dump is
restored without owners and grants (the restoring role owns everything, as the migrations' role would),
restoring mode ends (``timescaledb_post_restore()``), and the services' roles get their grants again
(:func:`citywatch.db.schema.migrate_all`: nothing to migrate, the roles re-granted). The same steps with
the compose file: README, "Backup and restore".

TimescaleDB 2.19.3 cannot read back the compressed batches it dumps when a column of the batch is all
NULL (upstream #8893), so on the licensed edition with compressed chunks the backup is physical:
:func:`base_backup`.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Mapping
from pathlib import Path

import psycopg

from citywatch.db.schema import migrate_all

log = logging.getLogger(__name__)


def _run(cmd: list[str]) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed ({res.returncode}): {res.stderr.strip()[-2000:]}")
    return res.stderr


def base_backup(conninfo: str, out: Path, bindir: Path, run_as: list[str] | None = None) -> Path:
    """A physical backup: the whole cluster's files into the directory ``out`` (``pg_basebackup``, with the
    WAL to make it consistent), ready to start a server on. It copies files, so compressed chunks come back
    as they were on any TimescaleDB version (a logical backup of them does not on 2.19.3: the module doc).
    ``run_as`` prefixes the command (e.g. ``runuser -u postgres --``: the files must belong to the server's
    user)."""
    _run([*(run_as or []), str(bindir / "pg_basebackup"), "--dbname", conninfo, "--pgdata", str(out),
          "--wal-method=stream", "--checkpoint=fast", "--format=plain"])  # fmt: skip
    log.info("base backup written to %s", out)
    return out


def backup(conninfo: str, out: Path, bindir: Path) -> Path:
    """The whole database into ``out`` (pg_dump's custom format)."""
    _run([str(bindir / "pg_dump"), "--format=custom", "--file", str(out), "--dbname", conninfo])
    log.info("backup written to %s (%d bytes)", out, out.stat().st_size)
    return out


def restore(conninfo: str, dump: Path, bindir: Path, passwords: Mapping[str, str] | None = None) -> None:
    """``dump`` into the empty database ``conninfo`` (as the role that is to own the schema)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
        ).fetchone()
        if tables and tables[0]:
            raise RuntimeError("restore goes into an empty database; this one has tables")
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute("SELECT timescaledb_pre_restore()")
    try:
        # (the dump's own CREATE EXTENSION finds it there and says so: not a failure)
        err = subprocess.run(
            [str(bindir / "pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--dbname",
             conninfo, str(dump)],
            capture_output=True, text=True,
        )  # fmt: skip
        if err.returncode != 0:
            raise RuntimeError(f"pg_restore failed ({err.returncode}): {err.stderr.strip()[-2000:]}")
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("SELECT timescaledb_post_restore()")
    migrate_all(conninfo, passwords)
    log.info("restored %s", dump)
