"""`citywatch bench soak`: the platform running for a long time at a steady load.

Private PostgreSQL (fsync on) and Mosquitto; ingest, analytics and the API each run as their own
process, as in production; a gateway publisher sends the simulated city's traffic at ``rate`` msg/s
for ``duration_s``. Two kinds of traffic share the connection:

- the load: the city's last week replayed, again and again (new seeds, new sequence numbers), at
  ``rate``; analytics sees it as late data and evaluates little of it;
- the live city, so that analytics has real-time work all along: the air-quality stations publish
  their readings in real time (they are left out of the replay), and every ``probe_s`` a fire
  event from a probe camera must become an alert (publish -> alert committed, as
  ``bench alerts`` measures it, here under the soak's load).

Every ``sample_s`` the resident memory of each service is recorded. At the end: every message
accounted for (sent = stored + dead-lettered, none twice), each service's memory at the start and
the end of the run (growth = mean of the last quarter of samples − mean of the first quarter), the
error lines in the services' logs, and the probes' alert latency.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg

from citywatch.contracts.topics import DeviceKind
from simulators.city import Scale, build_city
from simulators.engine import Out, simulate
from tools.bench.alert_faults import fire_alerted, fire_probe, probe_cameras
from tools.bench.common import (
    Prober,
    city_servers,
    load_publisher,
    peak_rss_mb,
    percentile,
    progress,
    start_ingest,
)
from tools.localservices import free_port

SECRET = "bench-secret"
STREAMS = ("air_quality", "parking_events", "cctv_events", "bus_positions", "stop_requests")
SCALE = Scale(
    stations=25, lots=10, spaces_per_lot=30, cameras=50, routes=8, stops_per_route=12, buses_per_route=4
)


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else float("nan")


def run(
    rate: float = 15000.0,
    duration_s: float = 3600.0,
    sample_s: float = 10.0,
    max_growth_mb: float = 25.0,
    workers: int = 2,
    probe_s: float = 10.0,
) -> dict[str, Any]:
    """The figures of one soak, and its verdict: ``passed`` when every message is accounted for, none is
    stored twice, no service logged an error, none grew by more than ``max_growth_mb`` and every
    probe became an alert."""
    city = build_city(31, SCALE)
    live_city = replace(city, devices=[d for d in city.devices if d.kind is DeviceKind.AIR_QUALITY])
    probes = probe_cameras(int(duration_s / probe_s) + 2, "cam-soak-probe")
    logs = Path(tempfile.mkdtemp(prefix="citywatch-soak-logs-"))
    with city_servers(SECRET, city, replace(city, devices=probes, lots=[])) as s:
        api_port = free_port()
        env = {
            **os.environ,
            "CITYWATCH_DB_URL": s.pg.url,
            "CITYWATCH_MQTT_PORT": str(s.broker.port),
            "CITYWATCH_DEVICE_SECRET": SECRET,
            "CITYWATCH_API_PORT": str(api_port),
            "CITYWATCH_LOG_LEVEL": "INFO",
        }
        procs: dict[str, subprocess.Popen[bytes]] = {}
        files = {}

        def log_of(name: str) -> IO[bytes]:
            files[name] = (logs / f"{name}.log").open("wb")
            return files[name]

        try:
            for k in range(workers):
                procs[f"ingest-{k}"] = start_ingest(
                    s,
                    SECRET,
                    f"soak-ingest-{k}",
                    free_port(),
                    shared_group="ingest" if workers > 1 else None,
                    log_level="INFO",
                    log=log_of(f"ingest-{k}"),
                )
            for name, cmd in (
                ("analytics", [sys.executable, "-m", "analytics"]),
                ("api", [sys.executable, "-m", "tools", "api"]),
            ):
                procs[name] = subprocess.Popen(cmd, env=env, stdout=log_of(name), stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{api_port}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the API did not come up")
                time.sleep(0.2)
            progress(
                f"soak: {rate:g} msg/s for {duration_s:g}s; {workers} ingest worker(s), analytics and the API"
                " as processes"
            )
            pub = load_publisher(s, SECRET, "soak-load")
            end = time.time() - 30

            def traffic() -> Iterator[Out]:
                """The city's last week, again and again (new seed, new sequence numbers): endless, unique;
                without the air-quality stations, which publish live."""
                for k in itertools.count():
                    for o in simulate(city, end - 7 * 86400, end, seed=31 + k, first_seq=k * 10_000_000):
                        if o.kind is not DeviceKind.AIR_QUALITY:
                            yield o

            outs = traffic()
            live_start = time.time()
            live = (
                o
                for o in simulate(live_city, live_start, live_start + duration_s + 60, seed=97)
                if o.tag is None
            )
            next_live = next(live, None)
            live_sent = 0
            samples: dict[str, list[float]] = {n: [] for n in procs}
            healthz_ms: list[float] = []
            # the prober waits (up to its grace) for the last probes' alerts when the block ends
            with Prober(s.pg.url, fire_alerted, interval_s=0.05, grace_s=30.0) as prober:
                t0 = time.monotonic()
                live_due = t0 - live_start  # + a live reading's time: when it is due, on this clock
                next_sample = t0
                next_probe, probes_sent = t0 + probe_s / 2, 0
                sent = 0
                for o in outs:
                    if o.tag is not None:  # fault traffic and connection controls: not part of this load
                        continue
                    now = time.monotonic()
                    if now - t0 >= duration_s:
                        break
                    while next_live is not None and live_due + next_live.t <= now:
                        pub.send(next_live.topic, next_live.payload)
                        live_sent += 1
                        next_live = next(live, None)
                    if now >= next_probe and probes_sent < len(probes):
                        cam = probes[probes_sent].device_id
                        pub.send(*fire_probe(cam, 0, f"soak-probe-{probes_sent:06d}-fire"))
                        pub.push()
                        prober.sent_now(cam)
                        probes_sent += 1
                        next_probe += probe_s
                    if now >= next_sample:
                        for n, p in procs.items():
                            samples[n].append(peak_rss_mb(p.pid, "VmRSS"))
                        started = time.monotonic()
                        httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=5)
                        healthz_ms.append((time.monotonic() - started) * 1000)
                        next_sample += sample_s
                        if len(healthz_ms) % 6 == 0:
                            progress(
                                f"soak: {now - t0:.0f}s, {sent} sent, {pub.acked} acknowledged; RSS "
                                + ", ".join(f"{n} {v[-1]:.0f} MB" for n, v in samples.items())
                            )
                    pub.send(o.topic, o.payload)
                    sent += 1
                    ahead = t0 + sent / rate - time.monotonic()
                    if ahead > 0.001:
                        pub.push()
                        time.sleep(ahead)
                achieved = sent / (time.monotonic() - t0)
                if not pub.flush(120):
                    raise RuntimeError(f"the broker acknowledged {pub.acked} of {pub.sent} messages")
            sent = pub.acked
            pub.close()
            deadline = time.monotonic() + 120
            with psycopg.connect(s.pg.url, autocommit=True) as conn:

                def count(sql: str) -> int:
                    row = conn.execute(sql).fetchone()
                    return int(row[0]) if row and row[0] is not None else 0

                while count("SELECT coalesce(sum(received), 0) FROM ingest_counters") < sent:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                stored = sum(count(f"SELECT count(*) FROM {t}") for t in STREAMS)
                distinct = sum(count(f"SELECT count(DISTINCT (device_id, seq)) FROM {t}") for t in STREAMS)
                dead_by = {
                    str(r): int(n)
                    for r, n in conn.execute(
                        "SELECT reason, count(*) FROM dead_letters GROUP BY 1"
                    ).fetchall()
                }
                dead = sum(dead_by.values())
            for p in procs.values():
                p.send_signal(signal.SIGTERM)
            for p in procs.values():
                p.wait(60)
        finally:  # a failed run leaves no service behind
            for p in procs.values():
                if p.poll() is None:
                    p.kill()
                    p.wait(10)
            for f in files.values():
                f.close()
    errors = {
        n: sum(
            1 for line in (logs / f"{n}.log").read_text(errors="replace").splitlines() if " ERROR " in line
        )
        for n in procs
    }
    quarter = {n: max(1, len(v) // 4) for n, v in samples.items()}
    memory: dict[str, dict[str, float]] = {
        n: {
            "start_mb": round(_mean(v[: quarter[n]]), 1),
            "end_mb": round(_mean(v[-quarter[n] :]), 1),
            "growth_mb": round(_mean(v[-quarter[n] :]) - _mean(v[: quarter[n]]), 1),
            "max_mb": round(max(v), 1) if v else float("nan"),
        }
        for n, v in samples.items()
    }
    lost, duplicated = sent - stored - dead, stored - distinct
    max_growth = max(mem["growth_mb"] for mem in memory.values())
    latency = [(prober.seen[c] - prober.sent[c]) * 1000 for c in prober.sent if c in prober.seen]
    verdict = {
        "accounted": lost == 0 and duplicated == 0,
        "memory_within_bound": max_growth <= max_growth_mb,
        "no_errors": not any(errors.values()),
        "every_probe_alerted": len(latency) == len(prober.sent),
    }
    return {
        "duration_s": duration_s,
        "rate_msgs_per_s": rate,
        "achieved_msgs_per_s": round(achieved),
        "sent": sent,
        "stored": stored,
        "dead_lettered": dead,
        "dead_letter_reasons": dead_by,
        "lost": lost,
        "duplicated": duplicated,
        "memory": memory,
        "max_growth_mb": max_growth,
        "memory_bound_mb": max_growth_mb,
        "error_lines": errors,
        "healthz_ms_max": round(max(healthz_ms), 1) if healthz_ms else None,
        "live": {
            "air_quality_readings": live_sent,
            "probes": len(prober.sent),
            "probes_alerted": len(latency),
            "alert_latency_p50_ms": round(percentile(latency, 50), 1) if latency else None,
            "alert_latency_p99_ms": round(percentile(latency, 99), 1) if latency else None,
            "alert_latency_max_ms": round(max(latency), 1) if latency else None,
        },
        "logs": str(logs),
        "verdict": verdict,
        "passed": all(verdict.values()),
        "conditions": {
            "devices": len(city.devices),
            "ingest_workers": workers,
            "fsync": True,
            "qos": 1,
            "load": "raw QoS 1 socket writer (tools.bench.rawpub)",
            "cores": os.cpu_count(),
        },
    }
