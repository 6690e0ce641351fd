"""Shared pieces of the benchmarks: progress on stderr, private servers (bare, or with a city on them),
an ingest worker as its own process, RSS."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg

from citywatch import broker
from citywatch.db import features
from citywatch.db.migrate import migrate
from citywatch.devices import broker_accounts
from citywatch.settings import IngestSettings
from simulators.city import City
from simulators.provision import register_city
from tools.bench.rawpub import RawPublisher
from tools.localservices import MosquittoBroker, PostgresServer, free_port


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Servers:
    pg: PostgresServer
    broker: MosquittoBroker
    workdir: Path


@contextlib.contextmanager
def private_servers(secret: str, durable: bool = True) -> Iterator[Servers]:
    workdir = Path(tempfile.mkdtemp(prefix="citywatch-bench-"))
    pg = PostgresServer(workdir / "pg", free_port(), durable=durable)
    broker = MosquittoBroker(workdir / "mq", free_port(), secret)
    try:
        pg.start()
        yield Servers(pg, broker, workdir)
    finally:
        broker.stop()
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def city_servers(secret: str, *cities: City, durable: bool = True) -> Iterator[Servers]:
    """Private servers with the schema, the cities' devices registered and the broker running with
    their accounts."""
    with private_servers(secret, durable) as s:
        migrate(s.pg.url)
        features.apply(s.pg.url)
        for city in cities:
            register_city(s.pg.url, city)
        s.broker.write_config(broker_accounts(s.pg.url))
        s.broker.start()
        yield s


def start_ingest(
    s: Servers,
    secret: str,
    client_id: str,
    metrics_port: int,
    *,
    shared_group: str | None = None,
    log_level: str = "WARNING",
    wrap: list[str] | None = None,
    log: IO[bytes] | None = None,
    oldest: float | None = None,
) -> subprocess.Popen[bytes]:
    """An ingest worker as its own process (``wrap``: a command to run it under, e.g. a profiler; ``log``:
    where its output goes, else this process's), returned once it is connected to the broker. ``oldest``:
    the earliest device time (epoch s) of a replay it must accept, should that lie beyond its usual window
    (``CITYWATCH_INGEST_MAX_PAST_S``, 35 days): a replay from a fixed date stays whole as the date ages."""
    env = {
        **os.environ,
        "CITYWATCH_DB_URL": s.pg.url,
        "CITYWATCH_MQTT_PORT": str(s.broker.port),
        "CITYWATCH_DEVICE_SECRET": secret,
        "CITYWATCH_INGEST_CLIENT_ID": client_id,
        "CITYWATCH_INGEST_METRICS_PORT": str(metrics_port),
        "CITYWATCH_LOG_LEVEL": log_level,
    }
    if shared_group:
        env["CITYWATCH_INGEST_SHARED_GROUP"] = shared_group
    if oldest is not None:
        usual = IngestSettings().max_past_s
        env["CITYWATCH_INGEST_MAX_PAST_S"] = str(max(usual, time.time() - oldest + 86400))
    proc = subprocess.Popen(
        [*(wrap or []), sys.executable, "-m", "ingest"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT if log else None,
    )
    deadline = time.monotonic() + 30
    while metric(metrics_port, "citywatch_ingest_broker_connected") != 1.0:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            proc.wait(10)
            raise RuntimeError("ingest did not come up")
        time.sleep(0.02)
    return proc


def load_publisher(s: Servers, secret: str, name: str) -> RawPublisher:
    """A raw socket writer on the simulator account: load at almost no CPU (see tools.bench.rawpub)."""
    password = broker.derive_password(secret, broker.SIMULATOR_USER)
    return RawPublisher("127.0.0.1", s.broker.port, broker.SIMULATOR_USER, password, name)


def peak_rss_mb(pid: int, field: str = "VmHWM") -> float:
    """Peak resident memory of a process (``VmRSS`` for the current one)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    return float(line.rsplit(" ", 1)[1])
    except OSError:
        return None
    return None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


class Prober:
    """Publish-to-visible latency: remember when each probe was sent, poll the database in a thread for the
    probes that became visible (``visible(conn, pending) -> keys``), and give the latencies in ms."""

    def __init__(
        self,
        conninfo: str,
        visible: Callable[[psycopg.Connection[Any], set[Any]], Iterable[Any]],
        interval_s: float = 0.01,
        grace_s: float = 15.0,
    ) -> None:
        self.conninfo, self.visible, self.interval_s, self.grace_s = conninfo, visible, interval_s, grace_s
        self.sent: dict[Any, float] = {}
        self.seen: dict[Any, float] = {}
        self._stop = threading.Event()
        self._stopped_at = 0.0
        self._thread = threading.Thread(target=self._run, name="prober")

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def sent_now(self, key: Any) -> None:
        self.sent[key] = time.monotonic()

    def _run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while True:
                pending = set(self.sent) - set(self.seen)
                if pending:
                    now = time.monotonic()
                    for key in self.visible(conn, pending):
                        self.seen.setdefault(key, now)
                if self._stop.is_set() and (
                    not pending or time.monotonic() - self._stopped_at > self.grace_s
                ):
                    return
                time.sleep(self.interval_s)

    def __exit__(self, *exc: object) -> None:
        self._stopped_at = time.monotonic()
        self._stop.set()
        self._thread.join()

    def latencies_ms(self) -> list[float]:
        return [(self.seen[k] - self.sent[k]) * 1000 for k in self.sent if k in self.seen]


def gateway_publisher(port: int, secret: str) -> Any:
    """Two simulator-account connections, for load."""
    from simulators.publisher import Publisher

    pub = Publisher(host="127.0.0.1", port=port, secret=secret, mode="gateway", connections=2, inflight=2000)
    pub.open([])
    return pub
