"""Shared pieces of the benchmarks: progress on stderr, private servers, RSS."""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from citywatch.localservices import MosquittoBroker, PostgresServer, free_port


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
