"""The boarding-bell service: MQTT in and out, the pure engine in the middle.

It listens to stop requests, bus positions and driver acks (QoS 1, persistent
session), runs :class:`boarding.engine.Bell` on one thread, publishes each
driver terminal's whole state retained on ``cw/v1/bus/{bus}/downlink/stops``
(so a terminal that reconnects gets it at once), answers requesters on
``cw/v1/stop/{device}/downlink/reply``, records request statuses and passages
in TimescaleDB, and raises no-stop passes and unacknowledged alerts through
the alert engine. Open requests survive a restart (reloaded from the table).

The engine's thread only decides and publishes: what a driver or a passenger
waits for never queues behind a disk flush. Records go to a writer thread that
commits them in batches, in the order they were decided, and retries through
a database outage (the bell keeps working meanwhile).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psycopg
from pydantic import ValidationError

from alerts import store
from alerts.model import Severity, alert
from boarding.engine import (
    Bell,
    BellConfig,
    ControlAlert,
    DriverState,
    Effect,
    PassRecord,
    Reply,
    RequestStatus,
)
from boarding.gtfs import GtfsError, Network, load, load_zip
from boarding.metrics import BoardingMetrics
from citywatch import broker, metrics, mqtt
from citywatch.contracts import messages as m
from citywatch.contracts.topics import DeviceKind, Stream, bus_downlink, stop_reply, stream_filter
from citywatch.settings import Settings

log = logging.getLogger(__name__)
Record = m.StopRequest | RequestStatus | PassRecord | ControlAlert | None  # None: the writer stops
TOPICS = (
    stream_filter(DeviceKind.STOP, Stream.REQUEST),
    stream_filter(DeviceKind.BUS, Stream.POSITION),
    stream_filter(DeviceKind.BUS, Stream.ACK),
)


NEWEST_FEED = "SELECT id FROM transit_feeds ORDER BY uploaded_at DESC, id DESC LIMIT 1"


def gtfs_path(settings: Settings) -> Path:
    return settings.boarding.gtfs or settings.data_dir / "gtfs.zip"


def uploaded_feed(conn: psycopg.Connection[Any], newer_than: int | None = None) -> tuple[int, Network] | None:
    """The newest feed uploaded through the API (``PUT /api/v1/transit/feed``) and its id, unless it is
    ``newer_than`` already; None when there is none (or nothing newer)."""
    row = conn.execute(NEWEST_FEED).fetchone()  # the id alone: a province's feed is tens of MB
    if row is None or row[0] == newer_than:
        return None
    feed = conn.execute("SELECT feed FROM transit_feeds WHERE id = %s", (row[0],)).fetchone()
    if feed is None:
        return None  # removed in between: looked for again next time
    return row[0], load_zip(bytes(feed[0]), f"uploaded feed {row[0]}")


def wait_for_feed(
    feed: Path, stop: threading.Event, every_s: float = 30.0, uploaded: Callable[[], bool] = lambda: False
) -> bool:
    """Without the agency's feed the bell cannot match a request to a bus: say so once, clearly, and look
    again every ``every_s`` (a crash loop would say nothing more) for the feed file or an ``uploaded``
    one. False when stopped first."""
    if feed.exists() or uploaded():
        return True
    log.error(
        "no GTFS feed at %s and none uploaded: upload the transit agency's static feed"
        " (citywatch onboard routes FEED.zip) or put it there (deploy/gtfs/README.md); looking again every %.0f s",
        feed,
        every_s,
    )
    while not (feed.exists() or uploaded()):
        if stop.wait(every_s):
            return False
    if feed.exists():
        log.info("GTFS feed found at %s", feed)
    else:
        log.info("GTFS feed uploaded (PUT /api/v1/transit/feed)")
    return True


class BoardingService:
    def __init__(self, settings: Settings, client_id: str = "citywatch-boarding") -> None:
        self.settings = settings
        b = settings.boarding
        self.conn = psycopg.connect(settings.db.url, autocommit=True, application_name="citywatch-boarding")
        uploaded = uploaded_feed(self.conn)
        self.feed_id = uploaded[0] if uploaded else None  # None: the feed file
        self.bell = Bell(
            uploaded[1] if uploaded else load(gtfs_path(settings)),
            BellConfig(request_ttl_s=b.request_ttl_s, resend_s=b.resend_s, escalate_s=b.escalate_s),
        )
        self.records: queue.Queue[Record] = queue.Queue()
        self.written = 0
        self._writer = threading.Thread(target=self._write_loop, name="boarding-writer", daemon=True)
        self.inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._stop = threading.Event()
        self.handled = 0
        self.metrics = BoardingMetrics(lambda: self.records.unfinished_tasks)
        secret = settings.device_secret.get_secret_value()
        self.mqtt = mqtt.Client(
            mqtt.Connection(
                host=settings.mqtt.host,
                port=settings.mqtt.port,
                client_id=client_id,
                username=broker.PLATFORM_USER,
                password=broker.derive_password(secret, broker.PLATFORM_USER),
                tls_ca=settings.mqtt.tls_ca,
                keepalive_s=settings.mqtt.keepalive_s,
                session_expiry_s=3600,  # requests and positions sent while it restarts wait for it
                subscriptions=tuple((t, 1) for t in TOPICS),
            ),
            self._on_message,
            on_connect=lambda _present: self.metrics.connected.set(1),
            on_disconnect=lambda _unexpected: self.metrics.connected.set(0),
        )
        self.connected = self.mqtt.connected

    def check_feed(self, now: float) -> bool:
        """Run on a feed uploaded since (the agency changed its routes), if there is one: True when it
        changed. A feed that cannot be read (the API refuses those) leaves the bell on the one it has."""
        try:
            newer = uploaded_feed(self.conn, self.feed_id)
        except psycopg.Error:
            log.warning(
                "could not look for a newer transit feed (the database is unavailable)", exc_info=True
            )
            return False
        except GtfsError as e:
            log.error(
                "the newest uploaded transit feed cannot be read (%s): the bell keeps the one it has", e
            )
            return False
        if newer is None:
            return False
        self.feed_id, net = newer
        self._execute(self.bell.replace_network(net, now), now)
        log.info(
            "boarding bell on uploaded feed %d: %d routes, %d stops",
            self.feed_id,
            len(net.routes),
            len(net.stops),
        )
        return True

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        self.inbox.put((msg.topic, msg.payload))

    # -- effects -----------------------------------------------------------------
    def _execute(self, effects: list[Effect], now: float) -> bool:
        """Publish at once; hand the records to the writer (in order). True when a terminal was told."""
        told = False
        for e in effects:
            if isinstance(e, RequestStatus):
                self.metrics.requests.labels(e.status).inc()
            if isinstance(e, DriverState):
                told = True
                self.mqtt.publish(
                    bus_downlink(e.bus_id, "stops"),
                    m.DriverAlert.model_dump_json(e.alert),
                    qos=1,
                    retain=True,
                )
            elif isinstance(e, Reply):
                self.mqtt.publish(stop_reply(e.device_id), e.reply.model_dump_json(exclude_none=True), qos=1)
            else:
                self.records.put(e)
        return told

    def _write(self, cur: psycopg.Cursor[Any], e: Record) -> None:
        if isinstance(e, m.StopRequest):
            if e.action == "request":
                cur.execute(
                    "INSERT INTO bell_requests (request_id, device_id, stop_id, route_id, passengers, wheelchair,"
                    " status, requested_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, 'pending', %s, now())"
                    " ON CONFLICT (request_id) DO NOTHING",
                    (e.request_id, e.device_id, e.stop_id, e.route_id, e.passengers, e.wheelchair, e.ts),
                )
        elif isinstance(e, RequestStatus):
            cur.execute(
                "UPDATE bell_requests SET status = %s, bus_id = %s, eta_s = %s, reason = %s, updated_at = %s"
                " WHERE request_id = %s",
                (e.status, e.bus_id, e.eta_s, e.reason, datetime.fromtimestamp(e.at, UTC), e.request_id),
            )
        elif isinstance(e, PassRecord):
            cur.execute(
                "INSERT INTO bell_passes (time, bus_id, route_id, stop_id, served, request_ids)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    datetime.fromtimestamp(e.at, UTC),
                    e.bus_id,
                    e.route_id,
                    e.stop_id,
                    e.served,
                    list(e.request_ids),
                ),
            )
        elif isinstance(e, ControlAlert):
            sev = Severity.WARNING if e.rule == "bus.no_stop_pass" else Severity.CRITICAL
            store.apply(
                cur.connection,
                alert(e.rule, e.subject, "bus", sev, e.title, message=e.message, details=e.details),
                datetime.fromtimestamp(e.at, UTC),
            )

    def _write_loop(self) -> None:
        """Commit records in batches, in decision order; hold the batch and retry while the database is away."""
        batch: list[Record] = []
        stopping = False
        delay = 0.5
        while batch or not stopping:
            if not batch:
                batch.append(self.records.get())
                while len(batch) < 500:
                    try:
                        batch.append(self.records.get_nowait())
                    except queue.Empty:
                        break
                stopping = stopping or any(e is None for e in batch)
            try:
                self._commit(batch)
                delay = 0.5
            except psycopg.OperationalError as exc:
                log.warning(
                    "bell records: database unavailable (%s); %d held, retrying in %.1fs",
                    str(exc).strip(),
                    len(batch),
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _done(self, records: list[Record]) -> None:
        self.written += sum(e is not None for e in records)
        for _ in records:
            self.records.task_done()

    def _commit(self, batch: list[Record]) -> None:
        """Write the batch in one transaction; if the database refuses a record, the others go one by one
        and the refused one is logged. Written records leave ``batch``; a lost connection raises."""
        if self.conn.closed:
            self.conn = psycopg.connect(
                self.settings.db.url, autocommit=True, application_name="citywatch-boarding"
            )
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                for e in batch:
                    self._write(cur, e)
        except psycopg.OperationalError:
            raise
        except psycopg.Error:
            while batch:
                try:
                    with self.conn.transaction(), self.conn.cursor() as cur:
                        self._write(cur, batch[0])
                except psycopg.OperationalError:
                    raise
                except psycopg.Error:
                    log.exception("bell record refused by the database: %r", batch[0])
                self._done([batch.pop(0)])
            return
        self._done(batch)
        batch.clear()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record decided so far is committed."""
        deadline = time.monotonic() + timeout
        while self.records.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self.records.unfinished_tasks

    # -- inputs ------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes, now: float) -> None:
        stream = topic.rsplit("/", 1)[-1]
        self.metrics.messages.labels(stream).inc()
        try:
            if stream == "request":
                r = m.StopRequest.model_validate_json(payload)
                self.records.put(r)
                if self._execute(self.bell.on_request(r, now), now):
                    self.metrics.driver_alert_seconds.observe(max(0.0, time.time() - r.ts.timestamp()))
            elif stream == "position":
                self._execute(self.bell.on_position(m.BusPosition.model_validate_json(payload), now), now)
            elif stream == "ack":
                self._execute(self.bell.on_ack(m.DriverAck.model_validate_json(payload), now), now)
        except ValidationError:  # ingest dead-letters it with the reason; nothing for the bell to act on
            self.metrics.invalid.labels(stream).inc()
        self.handled += 1

    def _restore(self) -> None:
        """Open requests from before a restart go back into the bell."""
        rows = self.conn.execute(
            "SELECT request_id, device_id, stop_id, route_id, passengers, wheelchair, requested_at FROM bell_requests"
            " WHERE status IN ('pending', 'assigned', 'no_bus') AND requested_at > now() - make_interval(secs => %s)",
            (self.settings.boarding.request_ttl_s,),
        ).fetchall()
        for rid, dev, stop, route, n, wheel, at in rows:
            r = m.StopRequest(
                device_id=dev,
                ts=at,
                seq=0,
                request_id=rid,
                stop_id=stop,
                route_id=route,
                passengers=n,
                source="app",
                wheelchair=wheel,
            )
            self.bell.on_request(r, at.timestamp())
        if rows:
            log.info("restored %d open request(s)", len(rows))

    def run(self) -> None:
        self._restore()
        self.mqtt.start()
        self._writer.start()
        exporter = metrics.serve(
            self.metrics.registry, self.settings.metrics_host, self.settings.boarding.metrics_port, "boarding"
        )
        log.info(
            "boarding bell: %d routes, %d stops (%s)",
            len(self.bell.net.routes),
            len(self.bell.net.stops),
            f"uploaded feed {self.feed_id}" if self.feed_id is not None else gtfs_path(self.settings),
        )
        last_tick = last_feed_check = 0.0
        try:
            while not self._stop.is_set():
                try:
                    topic, payload = self.inbox.get(timeout=0.2)
                    self.handle(topic, payload, time.time())
                except queue.Empty:
                    pass
                if time.time() - last_tick >= 1.0:
                    last_tick = time.time()
                    self._execute(self.bell.tick(last_tick), last_tick)
                if time.time() - last_feed_check >= self.settings.boarding.feed_check_s:
                    last_feed_check = time.time()
                    self.check_feed(last_feed_check)
        finally:
            metrics.stop(exporter)
            self.mqtt.stop()
            self.records.put(None)
            self._writer.join(30)
            self.conn.close()

    def stop(self) -> None:
        self._stop.set()
