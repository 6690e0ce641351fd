"""Several analytics workers share a city: its partitions (one per zone, plus ``city`` for the
citywide work) are leased with PostgreSQL session-level advisory locks.

* A worker announces itself by its lease connection (``application_name``); the live workers are the
  live sessions, so a worker that dies — crash, kill, lost network — is gone at once, and its locks
  with it.
* Every round, each worker aims at its fair share, ``ceil(partitions / live workers)``: it lets go of
  partitions beyond it (after finishing their step; their state is saved every step) and takes free
  ones up to it. Adding a worker spreads the load; a dead worker's partitions are taken over.
* A partition is evaluated only by the holder of its lock, which checks its lease connection before
  every round, so two workers never evaluate one partition at once. A worker that takes a partition
  over starts from its saved state (:class:`analytics.service.AnalyticsService` with ``partition``).
* Notifications are delivered by the holder of ``city`` only.

``fair_share`` and ``plan`` are pure; the rest is the I/O around them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

from alerts import outbox
from analytics.service import AnalyticsService
from citywatch.leadership import lock_key
from citywatch.settings import Settings

log = logging.getLogger(__name__)
APP = "citywatch-analytics-worker"


def fair_share(partitions: int, workers: int) -> int:
    return math.ceil(partitions / max(1, workers))


def plan(held: set[str], partitions: list[str], share: int) -> tuple[list[str], list[str]]:
    """(release, candidates to try): beyond the share, let go of the last-held in partition order;
    below it, try the partitions not held, in order."""
    mine = [p for p in partitions if p in held]
    gone = sorted(held - set(partitions))  # partitions that no longer exist
    if len(mine) > share:
        return gone + mine[share:], []
    return gone, [p for p in partitions if p not in held] if len(mine) < share else []


def partitions_of(conn: psycopg.Connection[Any]) -> list[str]:
    """``city``, then one per zone (and ``zone:`` for devices without a zone)."""
    zones = [z for (z,) in conn.execute("SELECT zone_id FROM zones ORDER BY zone_id").fetchall()]
    return ["city", *(f"zone:{z}" for z in zones), "zone:"]


class PartitionLeases:
    def __init__(self, conninfo: str, worker_id: str) -> None:
        self.conninfo, self.worker_id = conninfo, worker_id
        self._conn: psycopg.Connection[Any] | None = None
        self.held: set[str] = set()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self.held:
                log.warning(
                    "worker %s: lease connection lost; its partitions are free for others", self.worker_id
                )
            self.held = set()
            self._conn = psycopg.connect(
                self.conninfo, autocommit=True, application_name=f"{APP}:{self.worker_id}"
            )
        return self._conn

    def live_workers(self) -> int:
        row = (
            self._connection()
            .execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name LIKE %s",
                (f"{APP}:%",),
            )
            .fetchone()
        )
        return int(row[0]) if row else 1

    def rebalance(self, partitions: list[str]) -> set[str]:
        """Take or release locks towards the fair share; the partitions this worker holds now."""
        try:
            conn = self._connection()
            share = fair_share(len(partitions), self.live_workers())
            release, candidates = plan(self.held, partitions, share)
            for p in release:
                conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(f"analytics:{p}"),))
                self.held.discard(p)
            for p in candidates:
                if len(self.held & set(partitions)) >= share:
                    break
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(%s)", (lock_key(f"analytics:{p}"),)
                ).fetchone()
                if row and row[0]:
                    self.held.add(p)
        except psycopg.Error as e:
            log.error("worker %s: leases: %s", self.worker_id, str(e).strip().splitlines()[0])
            self.close()
        return set(self.held)

    def check(self) -> bool:
        """Still ours? (The locks live exactly as long as the lease session.)"""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self.held = set()
            return False
        try:
            self._conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            self.close()
            return False

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None
        self.held = set()


class AnalyticsWorker:
    """One of several analytics processes: evaluates the partitions it leases."""

    def __init__(
        self, settings: Settings, sink: outbox.Sink | None = None, worker_id: str | None = None
    ) -> None:
        self.settings, self.sink = settings, sink
        self.worker_id = worker_id or uuid.uuid4().hex[:8]
        self.leases = PartitionLeases(settings.db.url, self.worker_id)
        self.engines: dict[str, AnalyticsService] = {}
        self.rounds = 0
        self._stop = threading.Event()
        self._last_health: datetime | None = None

    def _drop(self, p: str) -> None:
        engine = self.engines.pop(p)
        if p == "city":
            engine.dispatcher.stop()
        engine.conn.close()
        log.info("worker %s: %s handed over", self.worker_id, p)

    def round(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        with psycopg.connect(self.settings.db.url, autocommit=True) as conn:
            partitions = partitions_of(conn)
        held = self.leases.rebalance(partitions)
        for p in set(self.engines) - held:
            self._drop(p)
        for p in sorted(held - set(self.engines)):
            engine = AnalyticsService(self.settings, sink=self.sink, partition=p)
            if p == "city":
                engine.dispatcher.start()
            self.engines[p] = engine
            log.info("worker %s: evaluating %s", self.worker_id, p)
        due = (
            self._last_health is None
            or (now - self._last_health).total_seconds() >= self.settings.analytics.poll_s
        )
        if due:
            self._last_health = now
        for p, engine in sorted(self.engines.items()):
            if not self.leases.check():  # lost them all: stop before anyone else can have started
                for q in list(self.engines):
                    self._drop(q)
                return
            try:
                engine.step(now, health=due)
            except psycopg.Error as e:
                log.error(
                    "worker %s: %s failed (%s); retrying", self.worker_id, p, str(e).strip().splitlines()[0]
                )
                engine._reconnect()
        self.rounds += 1

    def run(self) -> None:
        log.info("analytics worker %s: sharing the city's partitions with the other workers", self.worker_id)
        listener: psycopg.Connection[Any] | None = None
        poll = self.settings.analytics.poll_s
        while not self._stop.is_set():
            started = time.monotonic()
            self.round()
            remaining = max(0.05, poll - (time.monotonic() - started))
            try:
                if listener is None or listener.closed:
                    listener = psycopg.connect(self.settings.db.url, autocommit=True)
                    listener.execute("LISTEN citywatch_ingest")
                for _ in listener.notifies(timeout=remaining, stop_after=1):
                    pass
                self._stop.wait(max(0.0, 0.5 - (time.monotonic() - started)))
            except psycopg.Error:
                listener = None
                self._stop.wait(remaining)
        if listener is not None:
            listener.close()
        for p in list(self.engines):
            self._drop(p)
        self.leases.close()

    def stop(self) -> None:
        self._stop.set()
