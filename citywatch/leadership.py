"""One active instance of a service, the others hot standbys: a session-level PostgreSQL advisory lock.

The holder keeps the lock on a connection of its own; PostgreSQL releases it the moment that session
ends (the process dies, is killed, or loses the network), and the next standby to ask takes over. A
holder checks its connection before every unit of work, so an instance that lost the lock (its
connection broke) stops working before another can start: two instances never act at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import Any

import psycopg

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


class Leadership:
    def __init__(self, conninfo: str, name: str) -> None:
        self.conninfo, self.name, self.key = conninfo, name, lock_key(name)
        self._conn: psycopg.Connection[Any] | None = None
        self.held = False

    def hold(self) -> bool:
        """True while this instance holds the lock (taking it when it is free); cheap to call often."""
        try:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self.held = False
                self._conn = psycopg.connect(
                    self.conninfo, autocommit=True, application_name=f"citywatch-leader:{self.name}"
                )
            if self.held:
                self._conn.execute("SELECT 1")  # still our session, so still our lock
            else:
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
                self.held = bool(row and row[0])
        except psycopg.Error as e:
            if self.held:
                log.warning("%s: lost the leadership lock (%s)", self.name, str(e).strip().splitlines()[0])
            self.held = False
            self.close()
        return self.held

    def close(self) -> None:
        """Give the lock up (by ending the session)."""
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None
        self.held = False
