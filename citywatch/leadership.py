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
import os
from typing import Any

import psycopg

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


class LockSession:
    """A connection whose session holds advisory locks: they live exactly as long as it does. Whoever
    holds locks through it must forget them whenever :meth:`connection` had to open a new session."""

    def __init__(self, conninfo: str, application_name: str) -> None:
        self.conninfo, self.application_name = conninfo, application_name
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def open(self) -> bool:
        return self._conn is not None and not self._conn.closed and not self._conn.broken

    def connection(self) -> psycopg.Connection[Any]:
        if not self.open:
            self._conn = psycopg.connect(
                self.conninfo, autocommit=True, application_name=self.application_name
            )
        assert self._conn is not None
        return self._conn

    def alive(self) -> bool:
        """The session (so every lock it holds) is still there."""
        if not self.open:
            return False
        try:
            self.connection().execute("SELECT 1")
            return True
        except psycopg.Error:
            self.close()
            return False

    def close(self) -> None:
        """End the session, releasing its locks: unlocked first, so another instance can take them at once
        (the session's end releases them too, but only once the server has noticed it)."""
        if self.open:
            with contextlib.suppress(psycopg.Error):
                self.connection().execute("SELECT pg_advisory_unlock_all()")
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None


def leader_session_name(name: str, pid: int | str) -> str:
    """The lock session's name: the holder's process id in it tells an operator (pg_stat_activity) who leads."""
    return f"citywatch-leader:{name}:{pid}"


class Leadership:
    def __init__(self, conninfo: str, name: str) -> None:
        self.name, self.key = name, lock_key(name)
        self.session = LockSession(conninfo, leader_session_name(name, os.getpid()))
        self.held = False

    def hold(self) -> bool:
        """True while this instance holds the lock (taking it when it is free); cheap to call often."""
        if self.held and self.session.alive():
            return True
        if self.held:
            log.warning("%s: lost the leadership lock (its session ended)", self.name)
        try:
            row = self.session.connection().execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
            self.held = bool(row and row[0])
        except psycopg.Error as e:
            log.warning("%s: leadership lock: %s", self.name, str(e).strip().splitlines()[0])
            self.close()
        return self.held

    def close(self) -> None:
        """Give the lock up (a standby can take it at once)."""
        self.session.close()
        self.held = False
