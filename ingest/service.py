"""The ingest service: broker -> decode -> bounded queue -> batched writer -> ack.

Threads: paho's network thread decodes and enqueues; the writer (the thread
that calls :meth:`IngestService.run`) drains the queue in batches, commits
them and only then acknowledges them to the broker. Killing the process at any
moment loses nothing: what was not committed was not acknowledged, and the
broker redelivers it to the persistent session.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

from citywatch import broker, metrics
from citywatch.contracts.topics import uplink_filter
from citywatch.settings import Settings
from ingest.batching import FlushPolicy, group
from ingest.decode import Decoded, DeviceInfo, Limits, Reason, Rejected, decode_all
from ingest.metrics import IngestMetrics
from ingest.mqtt import Inbound, Subscriber
from ingest.ratelimit import DeviceRateLimiter
from ingest.store import BatchResult, Store

log = logging.getLogger(__name__)

GATHER_S = 0.005  # how long the writer lets messages gather while its batch is not yet due


@dataclass(slots=True)
class Item:
    msg: Inbound
    decoded: list[Decoded]  # one per reading: a gateway's pack carries many


class IngestService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        s = settings.ingest
        self.policy = FlushPolicy(s.batch_max_rows, s.batch_max_wait_s)
        self.limits = Limits(
            s.max_payload_bytes, timedelta(seconds=s.max_future_s), timedelta(seconds=s.max_past_s)
        )
        self.metrics = IngestMetrics()
        # asked from the network thread and, for re-decoded messages, the writer: hence the lock
        self.limiter = DeviceRateLimiter(s.device_rate_per_s, s.device_burst) if s.device_rate_per_s else None
        self._limiter_lock = threading.Lock()
        self._refusals_reported = time.monotonic()
        self.store = Store(settings.db.url, s.client_id)
        self.registry: dict[str, DeviceInfo] = {}
        self._registry_loaded = 0.0
        # unbounded in type, bounded in fact: the broker never has more than receive_maximum messages
        # unacknowledged in flight to us, and nothing is acknowledged before it leaves this queue and commits
        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._stop = threading.Event()
        self.inbound = 0  # messages taken from the broker, committed or not
        self.totals = BatchResult(0, 0, 0, 0, 0)
        password = (
            settings.mqtt.password.get_secret_value()
            if settings.mqtt.password
            else broker.derive_password(settings.device_secret.get_secret_value(), settings.mqtt.username)
        )
        topic_filter = uplink_filter(s.shared_group)
        self.subscriber = Subscriber(
            host=settings.mqtt.host,
            port=settings.mqtt.port,
            client_id=s.client_id,
            username=settings.mqtt.username,
            password=password,
            topic_filter=topic_filter,
            on_message=self._enqueue,
            receive_maximum=s.receive_maximum,
            session_expiry_s=s.session_expiry_s,
            keepalive_s=settings.mqtt.keepalive_s,
            tls_ca=settings.mqtt.tls_ca,
        )

    # -- network thread -------------------------------------------------
    def _decode(self, m: Inbound) -> list[Decoded]:
        try:
            return decode_all(
                m.topic,
                m.payload,
                datetime.fromtimestamp(m.received_at, UTC),
                self.registry,
                self.limits,
                self._admit if self.limiter is not None else None,
            )
        except Exception as e:  # a bug, not bad input: keep the message, say why
            log.exception("decoder failed on %r", m.topic)
            return [Rejected(Reason.INTERNAL_ERROR, f"{type(e).__name__}: {e}"[:500])]

    def _admit(self, device_id: str, stamped: float, arrived: float) -> bool:
        assert self.limiter is not None
        with self._limiter_lock:
            return self.limiter.allow(device_id, stamped, arrived)

    def _report_refusals(self) -> None:
        """Once a minute, name the devices held back by the flood control (one line each, not one a message)."""
        if self.limiter is None or time.monotonic() - self._refusals_reported < 60.0:
            return
        self._refusals_reported = time.monotonic()
        with self._limiter_lock:
            refused = self.limiter.take_refusals()
        for device, n in sorted(refused.items(), key=lambda kv: -kv[1])[:20]:
            log.warning(
                "device %s is flooding: %d readings over %.0f/s (burst %d) dead-lettered as rate_limited",
                device,
                n,
                self.limiter.rate,
                int(self.limiter.burst),
            )
        if len(refused) > 20:
            log.warning("%d more devices were rate-limited in the last minute", len(refused) - 20)

    def _enqueue(self, m: Inbound) -> None:
        self._queue.put(Item(m, self._decode(m)))
        self.inbound += 1  # only this (network) thread writes it

    # -- writer thread --------------------------------------------------
    def _refresh_registry(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._registry_loaded < self.settings.ingest.registry_refresh_s:
            return
        if force and now - self._registry_loaded < 1.0:
            return
        try:
            self.registry = self.store.load_registry()
            if self.limiter is not None:
                with self._limiter_lock:
                    self.limiter.forget(set(self.registry))
        except psycopg.Error as e:  # keep the registry we have; the batch writer reports the outage
            log.warning("could not reload the device registry: %s", str(e).strip().splitlines()[0])
        self._registry_loaded = now

    def _flush(self, items: list[Item]) -> None:
        def unknown(i: Item) -> bool:
            return any(isinstance(d, Rejected) and d.reason is Reason.UNKNOWN_DEVICE for d in i.decoded)

        if any(unknown(i) for i in items):
            self._refresh_registry(force=True)  # a device registered since the last reload
            for i in items:
                if unknown(i):
                    i.decoded = self._decode(i.msg)
        grouped = group(
            (d, i.msg.topic, d.payload if isinstance(d, Rejected) and d.payload else i.msg.payload)
            for i in items
            for d in i.decoded
        )
        readings = sum(len(i.decoded) for i in items)
        started = time.monotonic()
        delay = 0.5
        while True:
            try:
                result = self.store.write(grouped, readings, datetime.now(UTC))
                break
            except psycopg.Error as e:
                self.metrics.db_errors.inc()
                # lost to another worker's transaction (a deadlock, a serialization failure): at once, and
                # only a warning; anything else (the database down, a disk full) backs off and is an error
                contention = isinstance(
                    e, (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
                )
                wait = 0.0 if contention else delay
                (log.warning if contention else log.error)(
                    "batch of %d not committed (%s); retrying in %.1fs, nothing acknowledged",
                    len(items),
                    e.__class__.__name__ + ": " + str(e).strip().splitlines()[0],
                    wait,
                )
                self.store.close()
                if self._stop.is_set() or (wait and self._stop.wait(wait)):
                    # shutting down: nothing was acknowledged, so the broker keeps these for the next start
                    log.error(
                        "giving up on %d uncommitted messages at shutdown; the broker keeps them", len(items)
                    )
                    return
                if not contention:
                    delay = min(delay * 2, 10.0)
        self.subscriber.ack(i.msg for i in items)
        self._account(items, result, time.monotonic() - started)

    def _account(self, items: list[Item], r: BatchResult, seconds: float) -> None:
        m = self.metrics
        m.batch_seconds.observe(seconds)
        m.batch_size.observe(len(items))
        m.received.inc(r.received)
        m.duplicates.inc(r.duplicates)
        m.gaps.inc(r.gaps)
        m.lag_seconds.observe(time.time() - min(i.msg.received_at for i in items))  # the batch's longest wait
        for table, n in r.written_by_table.items():
            m.written.labels(table).inc(n)
        for reason, n in r.dead_by_reason.items():
            m.dead_letters.labels(reason).inc(n)
        t = self.totals
        self.totals = BatchResult(
            t.received + r.received,
            t.written + r.written,
            t.duplicates + r.duplicates,
            t.dead_lettered + r.dead_lettered,
            t.gaps + r.gaps,
        )

    def run(self) -> None:
        """Consume until :meth:`stop`; flushes and acknowledges what it holds before returning."""
        s = self.settings
        self._refresh_registry()
        metrics.serve(self.metrics.registry, s.metrics_host, s.ingest.metrics_port, "ingest")
        self.subscriber.start()
        log.info(
            "ingest %s consuming %s:%s (batch ≤%d msgs / %.0f ms, receive-maximum %d)",
            s.ingest.client_id,
            s.mqtt.host,
            s.mqtt.port,
            self.policy.max_rows,
            self.policy.max_wait_s * 1000,
            s.ingest.receive_maximum,
        )
        pending: list[Item] = []
        units = 0  # readings pending: a batch is sized by rows, and a gateway pack holds many
        oldest = 0.0
        try:
            while not self._stop.is_set():
                try:
                    if not pending:  # idle: wake on the first message
                        pending.append(item := self._queue.get(timeout=0.25))
                        units += len(item.decoded)
                        oldest = time.monotonic()
                    while units < self.policy.max_rows:
                        pending.append(item := self._queue.get_nowait())
                        units += len(item.decoded)
                except queue.Empty:
                    pass
                self.metrics.queue_depth.set(self._queue.qsize())
                self.metrics.connected.set(1 if self.subscriber.wait_connected(0) else 0)
                age = time.monotonic() - oldest if pending else 0.0
                if self.policy.due(units, age):
                    self._flush(pending)
                    pending, units = [], 0
                elif pending:
                    # gather what arrives for a few ms: blocking on the queue instead woke this thread
                    # (and handed it the GIL) once per message, a tenth of the worker's time under load
                    self._stop.wait(min(GATHER_S, self.policy.wait_for(units, age)))
                self._refresh_registry()
                self._report_refusals()
            while True:  # clean shutdown: what is already here is committed and acknowledged
                try:
                    pending.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if pending:
                self._flush(pending)
        finally:
            self.subscriber.stop()
            self.store.close()
            t = self.totals
            log.info(
                "ingest stopped: received %d, written %d, duplicates %d, dead-lettered %d",
                t.received,
                t.written,
                t.duplicates,
                t.dead_lettered,
            )

    def stop(self) -> None:
        self._stop.set()
