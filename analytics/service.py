"""The analytics service: keeps up with ingested data and turns what it finds into alert events; it
also re-evaluates a historical range (backfill). Analytics scores; :mod:`alerts` decides.

Per step (every ``poll_s``, and whenever ingest commits):
1. air quality up to ``now - lateness`` (:mod:`analytics.airquality.step`), in slices that save progress;
2. the CCTV and parking event streams (:mod:`analytics.streams`);
3. city-wide, on the poll interval: device health (:mod:`analytics.device_health`), the alerts'
   supervisor (escalation, reminders, maintenance, sinks: :mod:`alerts.supervisor`), and upkeep (the
   chart rollup, erasing licence plates past their retention);
4. state saved (:mod:`analytics.state`), so a restart resumes.
Every alert event goes through the alerts' writer; notifications are delivered from the outbox by the
alerts' dispatcher (:mod:`alerts.runtime`), which this service hosts.

Only one instance works at a time (citywatch.leadership: a PostgreSQL advisory lock): a second one
started by mistake, or as a standby, waits and takes over — from the saved state — the moment the
active one's session ends.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from alerts import outbox
from alerts.config import default_policy
from alerts.runtime import AlertRuntime, sinks_from
from analytics import state as saved
from analytics.airquality.step import AirQualityStep
from analytics.broker_log import BrokerLog
from analytics.broker_watch import BrokerWatch
from analytics.config import Rules, RulesFile
from analytics.device_health import DeviceHealth
from analytics.metrics import AnalyticsMetrics
from analytics.progress import Backfill, Show, counter
from analytics.registry import Registry, Row, StepContext, registry_rows
from analytics.streams import EventStreams
from citywatch import metrics
from citywatch.db import privacy, rollups
from citywatch.db.json import connect as json_connect
from citywatch.leadership import Leadership
from citywatch.settings import Settings
from citywatch.strict import RulesError

#: a re-evaluation goes in slices of about this many readings (saving its place after each), of 6 h to 7 days
SLICE_READINGS = 20_000
SLICE_MIN = timedelta(hours=6)
SLICE_MAX = timedelta(days=7)

log = logging.getLogger(__name__)


class IngestPulse:
    """Sleep until ingest commits a batch (its NOTIFY) or the poll interval passes — and, however often
    ingest commits, wake at most twice a second. Shared by the single service and the partitioned worker."""

    def __init__(self, conninfo: str, stop: threading.Event) -> None:
        self.conninfo, self.stop = conninfo, stop
        self._conn: psycopg.Connection[Any] | None = None

    def wait(self, started: float, poll_s: float) -> None:
        remaining = max(0.05, poll_s - (time.monotonic() - started))
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.conninfo, autocommit=True)
                self._conn.execute("LISTEN citywatch_ingest")
            for _ in self._conn.notifies(timeout=remaining, stop_after=1):
                pass
            self.stop.wait(max(0.0, 0.5 - (time.monotonic() - started)))
        except psycopg.Error:
            self._conn = None
            self.stop.wait(remaining)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class Every:
    """At most once per ``seconds`` (monotonic clock)."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self._at = seconds, float("-inf")

    def due(self) -> bool:
        t = time.monotonic()
        if t - self._at < self.seconds:
            return False
        self._at = t
        return True


class AnalyticsService:
    """The whole city (``partition`` None), or one partition of it for a partitioned worker
    (analytics.partitions): ``"city"`` (device health, loss, bad data, the alerts' supervisor, upkeep) or
    ``"zone:{zone_id}"`` (air quality, CCTV and parking of one zone). Each partition keeps its own state."""

    def __init__(
        self,
        settings: Settings,
        sink: outbox.Sink | None = None,
        partition: str | None = None,
        broker_log: BrokerLog | None = None,
    ) -> None:
        """``broker_log``: the broker's log lines (:mod:`analytics.broker_log`), which the city's partition
        watches for devices the broker turned away (:mod:`analytics.broker_watch`)."""
        self.settings = settings
        self.partition = partition
        zone = partition.removeprefix("zone:") if partition and partition.startswith("zone:") else None
        self.citywide = partition in (None, "city")  # health, the alerts' supervisor, upkeep
        self.zonal = partition is None or zone is not None  # air quality, CCTV, parking
        self.state_key = saved.key_for(partition)
        self.a = settings.analytics
        self.rules_file = RulesFile(  # an invalid file stops us here, clearly
            self.a.rules_file, default_policy(self.a.reopen_window_s, self.a.escalate_after_s)
        )
        self.rules: Rules = self.rules_file.rules
        self.conn = json_connect(settings.db.url, autocommit=True, application_name="citywatch-analytics")
        secret = self.a.webhook_secret.get_secret_value() if self.a.webhook_secret else None
        self.alerts = AlertRuntime(
            settings.db.url,
            lambda: self.conn,
            lambda: self.rules.alerting,
            sinks_from(sink, self.a.webhook_urls, secret),
        )
        self.metrics = AnalyticsMetrics(settings.db.url, lambda: list(self.alerts.dispatcher.sinks))
        self.registry = Registry(zone)
        ctx = StepContext(
            lambda: self.conn, self.alerts.writer, self.registry, lambda: self.rules, settings.tz
        )
        self.air = AirQualityStep(ctx)
        self.streams = EventStreams(ctx)
        self.health = DeviceHealth(ctx, self.a)
        self.broker_log = broker_log if self.citywide else None
        self.broker_watch = BrokerWatch(self.rules.broker)
        self.cursor: datetime | None = None  # air quality is evaluated up to here
        #: a long re-evaluation reports (evaluated up to, fraction done, readings) here instead of the log
        self.progress: Show | None = None  # a re-evaluation's progress bar (citywatch analytics --from)
        self.backfill: Backfill | None = None  # how far the re-evaluation under way has got
        self._rollups, self._privacy = Every(15.0), Every(300.0)
        self._stop = threading.Event()
        self.leadership = Leadership(settings.db.url, "citywatch-analytics")
        self.active = False  # this instance holds the leadership and works
        self._standing_by = False
        self._recover = False  # a step failed: resume from the saved state
        self._last_health: datetime | None = None
        self.steps = 0
        self._load_state()
        if self.citywide:
            saved.report_rules(self.conn, self.rules_file)
            saved.write(  # who is offline, as device_health() judges it for the API and Grafana too
                self.conn,
                saved.HEALTH_KEY,
                {"offline_factor": self.a.offline_factor, "offline_min_s": self.a.offline_min_s},
            )

    # -- state -------------------------------------------------------------
    def _load_state(self) -> None:
        s = saved.read(self.conn, self.state_key)
        if s is None and self.partition is not None:  # a partition's first start: from the city's, if any
            s = saved.read(self.conn, saved.STATE_KEY)
        self.air.load_shapes(self.state_key)
        s = s or {}  # nothing saved yet: from the start
        self.cursor = datetime.fromisoformat(s["cursor"]) if s.get("cursor") else None
        self.air.restore(s)
        if self.cursor is not None:
            log.info("analytics resumes from %s", self.cursor)

    def _save_state(self) -> None:
        self.air.save_shapes(self.state_key)
        cursor = self.cursor.isoformat() if self.cursor else None
        saved.write(self.conn, self.state_key, {"cursor": cursor, **self.air.state()})

    def _reload_rules(self) -> None:
        try:
            new = self.rules_file.reload_if_changed()
        except RulesError as e:
            log.error("%s — edit refused, the rules in force stay", e)
            if self.citywide:
                saved.report_rules(self.conn, self.rules_file, refused=str(e))
            return
        if new is None:
            return
        if self.citywide:
            saved.report_rules(self.conn, self.rules_file)
        self.rules = new
        self.alerts.reconfigure(new.alerting)
        self._configure()
        log.info("rules reloaded from %s", self.rules_file.path)

    def _configure(self) -> None:
        """The rules or the registry changed: the steps take their settings (the city's, each zone's and
        each device's own)."""
        self.air.configure()
        self.streams.configure()

    # -- driving -----------------------------------------------------------
    def step(
        self,
        now: datetime | None = None,
        health: bool = True,
        devices: list[Row] | None = None,
    ) -> int:
        """One evaluation; ``devices``: the registry, when a partitioned worker read it once for all its partitions."""
        now = now or datetime.now(UTC)
        if self._recover:  # a failed step's work in memory is not what was committed: from the saved state
            self._load_state()
            self._recover = False
        self._reload_rules()
        if self.registry.refresh(devices if devices is not None else registry_rows(self.conn)):
            self._configure()  # who has settings of their own may have changed too
        safe = now - timedelta(seconds=self.a.lateness_s)
        n = self._air_quality(safe, now) if self.zonal else 0
        if self.zonal:
            self.streams.cctv_step(self.cursor, safe, now, live=health, tick=counter(self.backfill, "cctv"))
            self.streams.parking_step(self.cursor, safe, now, tick=counter(self.backfill, "parking"))
        if self.citywide:
            self._upkeep()
        if health and self.citywide:
            self.health.step(now)
            self._broker(now)
            self.alerts.supervisor.step(now)
        return n

    def _broker(self, now: datetime) -> None:
        """What the broker said since the last step: failed logins, take-overs, refused publishes."""
        if self.broker_log is None:
            return
        self.broker_watch.config = self.rules.broker
        for line, at in self.broker_log.take():
            self.broker_watch.feed(line, at)
        self.alerts.writer.apply_all(self.broker_watch.evaluate(now))

    def _air_quality(self, safe: datetime, now: datetime) -> int:
        if self.cursor is None:  # first run: start from the oldest reading there is
            oldest = self.air.oldest()
            if oldest is not None:
                self.cursor = oldest - timedelta(microseconds=1)
        n = 0
        first = self.cursor
        step = SLICE_MIN
        while self.cursor is not None and self.cursor < safe:  # in slices: a long backfill saves progress
            upto = min(safe, self.cursor + step)
            begun = self.cursor
            # the slice's alert events and the state saved after it in few transactions; a failure is
            # replayed from the state saved last (:meth:`reconnect`)
            with self.alerts.writer.batch():
                got = self.air.evaluate(begun, upto, upto if upto < safe else now)
                self.cursor = upto
                self._save_state()
            n += got
            # the next slice sized by the data, not the clock: about SLICE_READINGS readings (sparse hourly
            # history goes a week at a time; a dense city's minutes some hours at a time)
            rate = got / max((upto - begun) / timedelta(hours=1), 1e-9)
            step = min(
                SLICE_MAX, max(SLICE_MIN, timedelta(hours=SLICE_READINGS / rate) if rate else SLICE_MAX)
            )
            if self.backfill is not None:
                self.backfill.report("air_quality", upto, n)
            elif first is not None and safe - first > timedelta(hours=12):  # catching up: say how far it got
                log.info(
                    "evaluated up to %s (%3.0f%%, %d readings)",
                    upto.isoformat(timespec="minutes"),
                    100 * (upto - first) / (safe - first),
                    n,
                )
        if (
            self.cursor is not None and self.cursor >= safe
        ):  # the minutes younger than the lateness, if complete
            n += self.air.evaluate(self.cursor, safe, now)
        if self.backfill is not None:
            self.backfill.report("air_quality", safe, n, last=True)
        return n

    def _upkeep(self) -> None:
        """Keep the chart rollup (Apache edition) within 15 s of the data, late arrivals included; erase
        licence plates past their retention (citywatch.db.privacy) every few minutes."""
        if self._rollups.due():
            while rollups.refresh(self.conn, limit=24) == 24:
                pass
        if self._privacy.due():
            retention_h = self.settings.privacy.plate_retention_h
            if n := privacy.erase_plates(self.conn, retention_h):
                log.info("erased %d licence plate(s) older than %.0f h", n, retention_h)

    def evaluate_range(self, start: datetime, end: datetime) -> int:
        """Backfill / re-evaluation of [start, end] (device health is live-only): the air quality, and the
        CCTV and parking events of the whole range (each stream from ``start`` unless it is already
        further back)."""
        if self.cursor is None or self.cursor > start:
            self.cursor = start
        self.streams.rewind(start)
        self.backfill = Backfill(self._rows_between(start, end), self.progress)
        try:
            return self.step(end + timedelta(seconds=self.a.lateness_s), health=False)
        finally:
            self.backfill = None

    def _rows_between(self, start: datetime, end: datetime) -> dict[str, int]:
        """Each stream's rows in [start, end]: what a re-evaluation of it has to get through."""
        tables = {
            "air_quality": ("air_quality",),
            "cctv": ("cctv_events",),
            "parking": ("parking_events", "parking_counts"),  # spaces' states and garages' counts
        }
        totals: dict[str, int] = {}
        for stream, names in tables.items():
            totals[stream] = 0
            for table in names:
                row = self.conn.execute(
                    f"SELECT count(*) FROM {table} WHERE time >= %s AND time <= %s", (start, end)
                ).fetchone()
                totals[stream] += int(row[0]) if row else 0
        return totals

    def run(self) -> None:
        log.info(
            "analytics running: every %.1fs, lateness %.0fs; notifying %s",
            self.a.poll_s,
            self.a.lateness_s,
            ", ".join(self.alerts.dispatcher.sinks) or "nobody",
        )
        pulse = IngestPulse(self.settings.db.url, self._stop)
        metrics.serve(self.metrics.registry, self.settings.metrics_host, self.a.metrics_port, "analytics")
        while not self._stop.is_set():
            started = time.monotonic()
            if not self._lead():
                self.metrics.active.set(0)
                self.metrics.partitions.set(0)
                self._stop.wait(min(1.0, self.a.poll_s))
                continue
            self.metrics.active.set(1)
            self.metrics.partitions.set(1)
            try:
                # data as soon as ingest commits it; device health on the poll interval
                now = datetime.now(UTC)
                due = self._last_health is None or (now - self._last_health).total_seconds() >= self.a.poll_s
                if due:
                    self._last_health = now
                with self.metrics.step_seconds.time():
                    self.step(now, health=due)  # _lead() has just checked the lock is still ours
                self.steps += 1
                self.metrics.steps.inc()
                self.metrics.evaluated_up_to(self.cursor)
            except psycopg.Error as e:
                log.error("analytics step failed (%s); retrying", str(e).strip().splitlines()[0])
                self.metrics.step_errors.inc()
                self.reconnect()
            pulse.wait(started, self.a.poll_s)
        pulse.close()
        if self.active:
            self.alerts.dispatcher.stop()
        self.leadership.close()
        self.conn.close()

    def _lead(self) -> bool:
        """Hold the leadership, taking over (from the saved state) when it comes free; False: standby."""
        if self.leadership.hold():
            if not self.active:
                log.info("analytics: active (resuming from the saved state)")
                self._standing_by = False
                self._load_state()
                self.alerts.dispatcher.start()
                self.active = True
            return True
        if self.active:
            log.warning("analytics: no longer the active instance; standing by")
            self.alerts.dispatcher.stop()
            self.active = False
        elif not self._standing_by:
            log.info("analytics: another instance is active; standing by to take over")
        self._standing_by = True
        return False

    def reconnect(self) -> None:
        """After a failed step: a new connection, and the next step resumes from the saved state."""
        self._recover = True
        try:
            self.conn.close()
            self.conn = json_connect(
                self.settings.db.url, autocommit=True, application_name="citywatch-analytics"
            )
        except psycopg.Error:
            pass

    def stop(self) -> None:
        self._stop.set()


__all__ = ["AnalyticsService", "IngestPulse"]
