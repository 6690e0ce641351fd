"""Shared pieces of the benchmarks: progress on stderr, private servers, RSS."""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
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
