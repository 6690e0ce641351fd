"""The raw ceilings the ingest figures are compared with, measured in the same run on the same
machine: a bare paho subscriber (QoS 1, no processing) draining the same pre-loaded messages, and a
bare psycopg binary COPY of the same rows into copies of the same hypertables (same indexes)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from citywatch import broker, runtime
from citywatch.contracts.topics import uplink_filter
from ingest.decode import Accepted, DeviceInfo, Limits, decode_all
from ingest.rows import Row, TableSpec


class BareSubscriber:
    """Persistent MQTT sessions that only count: what paho and the broker manage with no work behind.
    With ``clients`` > 1 they share the subscription, as the ingest workers do (one process each)."""

    def __init__(self, port: int, secret: str, clients: int = 1, client_id: str = "bench-bare") -> None:
        self.port, self.client_id, self.clients = port, client_id, clients
        self.password = broker.derive_password(secret, broker.INGEST_USER)

    def _client(self, k: int) -> paho.Client:
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{self.client_id}-{k}", protocol=paho.MQTTv5)
        c.username_pw_set(broker.INGEST_USER, self.password)
        return c

    def _filter(self) -> str:
        return uplink_filter("bare" if self.clients > 1 else None)

    def _connect(self, c: paho.Client, expiry: int) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = expiry
        props.ReceiveMaximum = 20_000  # as ingest
        ok = threading.Event()
        c.on_connect = lambda *_a: ok.set()
        c.connect("127.0.0.1", self.port, 30, clean_start=False, properties=props)
        c.loop_start()
        if not ok.wait(10):
            raise RuntimeError("the bare subscriber could not connect")

    def create(self) -> None:
        """Open the sessions and subscribe, then go away: the broker queues for them from now on."""
        for k in range(self.clients):
            c = self._client(k)
            self._connect(c, 3600)
            c.subscribe(self._filter(), qos=1)
            time.sleep(0.3)
            c.disconnect()
            c.loop_stop()

    def drain(self, n: int, timeout: float = 600) -> float:
        """Reconnect and take ``n`` queued messages between them; messages/s. The sessions are dropped after.
        Each client runs in its own process, like an ingest worker (one GIL each)."""
        ctx = multiprocessing.get_context("spawn")
        counts = [ctx.Value("q", 0) for _ in range(self.clients)]
        go = ctx.Event()
        procs = [
            ctx.Process(target=_bare_client, args=(self, k, counts[k], go), daemon=True)
            for k in range(self.clients)
        ]
        for p in procs:
            p.start()
        t0 = time.monotonic()
        go.set()
        deadline = t0 + timeout
        while sum(c.value for c in counts) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"bare subscribers: {sum(c.value for c in counts)} of {n}")
            time.sleep(0.002)
        rate = n / (time.monotonic() - t0)
        for p in procs:
            p.terminate()
            p.join(10)
        return rate


def _bare_client(bare: BareSubscriber, k: int, count: Any, go: Any) -> None:
    n = 0

    def on_message(_c: Any, _u: Any, _m: paho.MQTTMessage) -> None:
        nonlocal n
        n += 1
        if n % 100 == 0:
            count.value = n

    c = bare._client(k)
    c.on_message = on_message
    runtime.tune_gc()  # the same process settings as an ingest worker: the ratio is the work, not the runtime
    count.value = 0  # ready
    go.wait()
    bare._connect(c, 0)  # the session expires when this connection ends
    while True:
        time.sleep(0.01)
        count.value = n


def rows_of(
    messages: Iterable[tuple[str, bytes]], registry: dict[str, DeviceInfo]
) -> dict[str, tuple[TableSpec, list[Row]]]:
    """The rows ingest would write for these messages (decoded outside the timing)."""
    now = datetime.now(UTC)
    out: dict[str, tuple[TableSpec, list[Row]]] = {}
    for topic, payload in messages:
        for d in decode_all(topic.encode(), payload, now, registry, Limits()):
            if isinstance(d, Accepted):
                out.setdefault(d.table.name, (d.table, []))[1].append(d.row)
    return out


def copy_rate(conninfo: str, tables: dict[str, tuple[TableSpec, list[Row]]]) -> tuple[float, int]:
    """One binary COPY stream of every row into empty copies of the hypertables; (rows/s, rows)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for spec, _rows in tables.values():
            conn.execute(f"DROP TABLE IF EXISTS ceiling_{spec.name}")
            conn.execute(f"CREATE TABLE ceiling_{spec.name} (LIKE {spec.name} INCLUDING ALL)")
            interval = conn.execute(
                "SELECT time_interval FROM timescaledb_information.dimensions WHERE hypertable_name = %s"
                " AND dimension_type = 'Time'",
                (spec.name,),
            ).fetchone()
            if interval and interval[0] is not None:
                conn.execute(
                    "SELECT create_hypertable(%s::regclass, by_range('time', %s::interval))",
                    (f"ceiling_{spec.name}", interval[0]),
                )
        n = sum(len(r) for _s, r in tables.values())
        t0 = time.monotonic()
        with conn.transaction(), conn.cursor() as cur:
            for spec, rows in tables.values():
                with cur.copy(
                    f"COPY ceiling_{spec.name} ({', '.join(spec.columns)}) FROM STDIN (FORMAT BINARY)"
                ) as cp:
                    cp.set_types(list(spec.types))
                    for row in rows:
                        cp.write_row(row)
        rate = n / (time.monotonic() - t0)
        for spec, _rows in tables.values():
            conn.execute(f"DROP TABLE ceiling_{spec.name}")
    return rate, n
