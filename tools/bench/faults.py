"""`citywatch bench faults`: the faults a control centre will meet, each under load, every message counted.

Private PostgreSQL (fsync on) and Mosquitto (persistence on); one ingest worker as its own process;
a gateway publisher sends the simulated city's traffic at ``rate`` msg/s for ``seconds`` per scenario
(QoS 1), and the fault strikes a third of the way in:

* ``ingest_sigkill`` — ingest is killed with SIGKILL three times and restarted each time;
* ``database_down`` — PostgreSQL is stopped for ``outage_s`` and started again;
* ``broker_restart`` — Mosquitto is stopped and started again (persistent sessions on disk);
* ``database_locked`` — the stream tables are locked by another session for ``outage_s``;
* ``analytics_sigkill`` and ``webhook_hang`` — the alert engine's faults, with every probe alert and
  notification counted (:mod:`tools.bench.alert_faults`).

Per scenario: sent, stored, dead-lettered, lost (sent − stored − dead-lettered), duplicated (rows
stored twice), ``recovery_s`` (from the fault's end until everything sent is stored) and the ingest
worker's peak RSS. Sequence numbers are offset per scenario, so each one is counted on its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psycopg

from simulators.city import Scale, build_city
from simulators.engine import simulate
from tools.bench import alert_faults
from tools.bench.common import (
    Servers,
    city_servers,
    gateway_publisher,
    peak_rss_mb,
    progress,
    start_ingest,
)
from tools.localservices import free_port

SECRET = "bench-secret"
STREAMS = ("air_quality", "parking_events", "cctv_events", "bus_positions", "stop_requests")
SCALE = Scale(
    stations=20, lots=6, spaces_per_lot=20, cameras=20, routes=4, stops_per_route=8, buses_per_route=3
)


class Worker:
    """One ingest process, restartable; keeps the peak RSS over its lives."""

    def __init__(self, s: Servers) -> None:
        self.s = s
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak = 0.0
        self.metrics_port = free_port()

    def start(self) -> None:
        self.proc = start_ingest(self.s, SECRET, "faults-ingest", self.metrics_port, log_level="ERROR")

    def sample(self) -> None:
        """The resident memory now (the peak of the current scenario is the largest sample)."""
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, peak_rss_mb(self.proc.pid, "VmRSS"))

    def kill(self) -> None:
        if self.proc:
            self.sample()
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.sample()
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)


def _count(conn: psycopg.Connection[Any], sql: str, *args: object) -> int:
    row = conn.execute(sql, args).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _stored(conn: psycopg.Connection[Any], first_seq: int) -> tuple[int, int]:
    """(rows, distinct keys) of this scenario's messages."""
    rows = distinct = 0
    for t in STREAMS:
        rows += _count(
            conn, f"SELECT count(*) FROM {t} WHERE seq >= %s AND seq < %s", first_seq, first_seq + 1_000_000
        )
        distinct += _count(
            conn,
            f"SELECT count(DISTINCT (device_id, seq)) FROM {t} WHERE seq >= %s AND seq < %s",
            first_seq,
            first_seq + 1_000_000,
        )
    return rows, distinct


def _dead_letters(conn: psycopg.Connection[Any], window_s: float) -> dict[str, int]:
    """Dead letters received in the last ``window_s`` seconds, by reason."""
    rows = conn.execute(
        "SELECT reason, count(*) FROM dead_letters WHERE received_at > now() - make_interval(secs => %s)"
        " GROUP BY 1",
        (window_s,),
    ).fetchall()
    return {str(r): int(n) for r, n in rows}


def recovered_at(
    conninfo: str, first_seq: int, sent: Callable[[], int], rate: float, fault_done: list[float]
) -> float | None:
    """When, after the fault ended, the backlog (sent − stored) fell back under one second of traffic."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=2) as conn:
                while time.monotonic() < deadline:
                    n = sent()
                    stored, _ = _stored(conn, first_seq)
                    if fault_done and n - stored < rate:
                        return time.monotonic()
                    time.sleep(0.25)
        except psycopg.Error:
            time.sleep(0.25)
    return None


NAMES = (
    "ingest_sigkill",
    "database_down",
    "broker_restart",
    "database_locked",
    "analytics_sigkill",
    "webhook_hang",
)


def run(
    rate: float = 1500.0, seconds: float = 20.0, outage_s: float = 10.0, only: list[str] | None = None
) -> dict[str, Any]:
    """Every scenario of :data:`NAMES` (or ``only`` those)."""
    unknown = set(only or ()) - set(NAMES)
    if unknown:
        raise ValueError(f"no such scenario: {', '.join(sorted(unknown))} (there are: {', '.join(NAMES)})")
    wanted = set(only or NAMES)
    city = build_city(21, SCALE)
    scenarios: list[dict[str, Any]] = []
    probes = alert_faults.probe_cameras(2 * (int(4 * seconds / 0.5) + 5))  # the fault may outlast the load
    with city_servers(SECRET, city, replace(city, devices=probes, lots=[])) as s:
        worker = Worker(s)
        worker.start()

        def kill_three_times() -> None:
            for _ in range(3):
                worker.kill()
                time.sleep(0.5)
                worker.start()
                time.sleep(seconds / 10)

        def database_down() -> None:
            s.pg.stop()
            time.sleep(outage_s)
            s.pg.start()

        def broker_restart() -> None:
            s.broker.stop()
            time.sleep(2.0)
            s.broker.start()

        def database_locked() -> None:
            with psycopg.connect(s.pg.url) as conn:
                conn.execute(f"LOCK TABLE {', '.join(STREAMS)} IN ACCESS EXCLUSIVE MODE")
                time.sleep(outage_s)
                conn.rollback()

        plan: list[tuple[str, Callable[[], None]]] = [
            ("ingest_sigkill", kill_three_times),
            ("database_down", database_down),
            ("broker_restart", broker_restart),
            ("database_locked", database_locked),
        ]
        for k, (name, fault) in enumerate(plan):
            if name not in wanted:
                continue
            first_seq = (k + 1) * 10_000_000
            progress(f"{name}: {rate:g} msg/s for {seconds:g}s, the fault a third of the way in")
            pub = gateway_publisher(s.broker.port, SECRET)
            span = 48 * 3600.0  # (lazily) far more traffic than one scenario sends
            end = time.time() - 30
            outs = simulate(city, end - span, end, seed=100 + k, first_seq=first_seq)
            stop_sampling = threading.Event()
            worker.peak = 0.0

            def sampler(done: threading.Event = stop_sampling) -> None:
                while not done.wait(0.25):
                    worker.sample()

            threading.Thread(target=sampler, daemon=True).start()
            fault_done: list[float] = []
            caught: list[float | None] = []
            monitor = threading.Thread(
                target=lambda p=pub, done=fault_done, out=caught, fs=first_seq: out.append(
                    recovered_at(s.pg.url, fs, lambda: p.sent["data"], rate, done)
                ),
                daemon=True,
            )
            monitor.start()
            t0 = time.monotonic()
            fault_at = t0 + seconds / 3
            fault_thread: threading.Thread | None = None
            sent = 0
            during = 0  # sent after the fault struck: the load must still be running then
            for o in outs:
                now = time.monotonic()
                if now - t0 > seconds:
                    break
                delay = t0 + sent / rate - now
                if delay > 0:
                    time.sleep(delay)
                if fault_thread is None and time.monotonic() >= fault_at:

                    def strike(f: Callable[[], None] = fault, done: list[float] = fault_done) -> None:
                        f()
                        done.append(time.monotonic())

                    fault_thread = threading.Thread(target=strike, daemon=True)
                    fault_thread.start()
                pub.send(o)
                sent += 1
                if fault_thread is not None:
                    during += 1
            if fault_thread is not None:
                fault_thread.join(120)
            if not pub.flush(120):
                progress(f"{name}: the broker did not acknowledge every publish in time")
            sent = pub.sent["data"]
            pub.close()
            restored = fault_done[0] if fault_done else time.monotonic()
            deadline = time.monotonic() + 180
            stored = distinct = 0
            while time.monotonic() < deadline:
                try:
                    with psycopg.connect(s.pg.url, autocommit=True) as conn:
                        stored, distinct = _stored(conn, first_seq)
                except psycopg.Error:
                    stored = distinct = 0
                if stored >= sent:
                    break
                time.sleep(0.2)
            monitor.join(200)
            recovery = ((caught[0] if caught else None) or time.monotonic()) - restored
            stop_sampling.set()
            with psycopg.connect(s.pg.url, autocommit=True) as conn:
                stored, distinct = _stored(conn, first_seq)
                dead_by = _dead_letters(conn, time.monotonic() - t0 + 5)
                dead = sum(dead_by.values())
            entry = {
                "name": name,
                "sent": sent,
                "sent_after_fault": during,
                "stored": stored,
                "dead_lettered": dead,
                "dead_letter_reasons": dead_by,
                "lost": sent - stored - dead,
                "duplicated": stored - distinct,
                "recovery_s": round(recovery, 2),
                "peak_rss_mb": round(worker.peak, 1),
            }
            scenarios.append(entry)
            progress(
                f"{name}: sent {sent}, stored {stored}, dead-lettered {dead}, lost {entry['lost']}, "
                f"duplicated {entry['duplicated']}; caught up {recovery:.1f}s after the fault ended"
            )

        def count_messages(first_seq: int, window_s: float) -> dict[str, Any]:
            with psycopg.connect(s.pg.url, autocommit=True) as conn:
                stored, distinct = _stored(conn, first_seq)
                dead_by = _dead_letters(conn, window_s)
            return {
                "stored": stored,
                "dead_lettered": sum(dead_by.values()),
                "duplicated": stored - distinct,
                "dead_letter_reasons": dead_by,
            }

        half = len(probes) // 2
        for k, (name, engine_fault, instances) in enumerate(
            [
                ("analytics_sigkill", alert_faults.kill_the_leader(seconds), 2),
                ("webhook_hang", alert_faults.hang_then_fail(outage_s), 1),
            ]
        ):
            if name not in wanted:
                continue
            worker.peak = 0.0
            scenarios.append(
                alert_faults.run_scenario(
                    name,
                    s,
                    city,
                    SECRET,
                    probes[k * half : (k + 1) * half],
                    rate=rate,
                    seconds=seconds,
                    first_seq=(len(plan) + k + 1) * 10_000_000,
                    fault=engine_fault,
                    instances=instances,
                    count_messages=count_messages,
                )
            )
        worker.stop()
    alerting = [x for x in scenarios if "probes" in x]
    return {
        "scenarios": scenarios,
        "total_lost": sum(x["lost"] for x in scenarios),
        "total_duplicated": sum(x["duplicated"] for x in scenarios),
        "total_alerts_lost": sum(x["alerts_lost"] for x in alerting),
        "total_alerts_duplicated": sum(x["alerts_duplicated"] for x in alerting),
        "total_notifications_lost": sum(sum(x["notifications_lost"].values()) for x in alerting),
        "total_notifications_duplicated": sum(sum(x["notifications_duplicated"].values()) for x in alerting),
        "conditions": {
            "rate_msgs_per_s": rate,
            "seconds_per_scenario": seconds,
            "outage_s": outage_s,
            "qos": 1,
            "fsync": True,
            "broker_persistence": True,
            "ingest_workers": 1,
            "devices": len(city.devices),
            "cores": os.cpu_count(),
        },
    }
