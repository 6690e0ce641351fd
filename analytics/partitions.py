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

import logging
import math
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

from alerts import outbox
from analytics.broker_log import BrokerLog
from analytics.metrics import AnalyticsMetrics, sink_names
from analytics.registry import Row, registry_rows
from analytics.service import AnalyticsService, IngestPulse
from citywatch import metrics
from citywatch.leadership import LockSession, lock_key
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


class PartitionLeases:
    def __init__(self, conninfo: str, worker_id: str) -> None:
        self.worker_id = worker_id
        self.session = LockSession(conninfo, f"{APP}:{worker_id}")
        self.held: set[str] = set()

    def _connection(self) -> psycopg.Connection[Any]:
        if not self.session.open:  # a new session holds nothing
            if self.held:
                log.warning(
                    "worker %s: lease connection lost; its partitions are free for others", self.worker_id
                )
            self.held = set()
        return self.session.connection()

    def partitions(self) -> list[str]:
        """``city``, then one per zone (and ``zone:`` for devices without a zone)."""
        zones = [
            z for (z,) in self._connection().execute("SELECT zone_id FROM zones ORDER BY zone_id").fetchall()
        ]
        return ["city", *(f"zone:{z}" for z in zones), "zone:"]

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

    def rebalance(self) -> tuple[set[str], list[Row]]:
        """Take or release locks towards the fair share: the partitions this worker holds now, and the
        device registry (read once here for all of them)."""
        devices: list[Row] = []
        try:
            conn = self._connection()
            partitions = self.partitions()
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
            devices = registry_rows(conn)
        except psycopg.Error as e:
            log.error("worker %s: leases: %s", self.worker_id, str(e).strip().splitlines()[0])
            self.close()
        return set(self.held), devices

    def check(self) -> bool:
        """Still ours? (The locks live exactly as long as the lease session.)"""
        if not self.session.alive():
            self.held = set()
            return False
        return True

    def close(self) -> None:
        """Give every lease up (other workers can take them at once)."""
        self.session.close()
        self.held = set()


class AnalyticsWorker:
    """One of several analytics processes: evaluates the partitions it leases."""

    def __init__(
        self,
        settings: Settings,
        sink: outbox.Sink | None = None,
        worker_id: str | None = None,
        broker_log: BrokerLog | None = None,
    ) -> None:
        self.settings, self.sink, self.broker_log = settings, sink, broker_log
        self.worker_id = worker_id or uuid.uuid4().hex[:8]
        self.leases = PartitionLeases(settings.db.url, self.worker_id)
        self.engines: dict[str, AnalyticsService] = {}
        self.rounds = 0
        self._stop = threading.Event()
        self._last_health: datetime | None = None
        names = sink_names(settings.analytics.webhook_urls, mqtt=sink is not None)
        self.metrics = AnalyticsMetrics(settings.db.url, lambda: names)

    def _drop(self, p: str) -> None:
        engine = self.engines.pop(p)
        if p == "city":
            engine.alerts.dispatcher.stop()
        engine.conn.close()
        log.info("worker %s: %s handed over", self.worker_id, p)

    def round(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        held, devices = self.leases.rebalance()
        for p in set(self.engines) - held:
            self._drop(p)
        for p in sorted(held - set(self.engines)):
            engine = AnalyticsService(self.settings, sink=self.sink, partition=p, broker_log=self.broker_log)
            if p == "city":
                engine.alerts.dispatcher.start()
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
                with self.metrics.step_seconds.time():
                    engine.step(now, health=due, devices=devices)
                self.metrics.steps.inc()
            except psycopg.Error as e:
                log.error(
                    "worker %s: %s failed (%s); retrying", self.worker_id, p, str(e).strip().splitlines()[0]
                )
                self.metrics.step_errors.inc()
                engine.reconnect()
        self.rounds += 1
        self.metrics.partitions.set(len(self.engines))
        self.metrics.active.set(1 if self.engines else 0)
        self.metrics.evaluated_up_to(*(e.cursor for e in self.engines.values() if e.zonal))

    def run(self) -> None:
        log.info("analytics worker %s: sharing the city's partitions with the other workers", self.worker_id)
        pulse = IngestPulse(self.settings.db.url, self._stop)
        metrics.serve(
            self.metrics.registry,
            self.settings.metrics_host,
            self.settings.analytics.metrics_port,
            "analytics",
        )
        while not self._stop.is_set():
            started = time.monotonic()
            self.round()
            pulse.wait(started, self.settings.analytics.poll_s)
        pulse.close()
        for p in list(self.engines):
            self._drop(p)
        self.leases.close()

    def stop(self) -> None:
        self._stop.set()
