"""`citywatch bench alerts`: how soon a reading that breaks a rule becomes an alert.

Ingest and analytics run as their own processes against a private PostgreSQL
(fsync on) and Mosquitto, while the simulated city publishes a background load
(a share of the measured ingest drain rate). Every second a probe camera (a new
one each time, so each probe opens a new alert) publishes a fire event; a
poller records when its alert row appears. Latency = probe publish -> alert
committed and queryable.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from typing import Any

from citywatch.bench.alert_faults import fire_alerted, fire_probe, probe_cameras
from citywatch.bench.common import Prober, city_servers, gateway_publisher, metric, percentile, progress
from citywatch.bench.ingest import SCALE, SECRET, _paced
from citywatch.localservices import free_port
from simulators.city import build_city


def _service(module: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    level = os.environ.get("CITYWATCH_BENCH_SERVICE_LOG_LEVEL", "WARNING")
    return subprocess.Popen(
        [sys.executable, "-m", module], env={**os.environ, **env, "CITYWATCH_LOG_LEVEL": level}
    )


def run(load_msgs_per_s: float = 3000.0, seconds: float = 30.0) -> dict[str, Any]:
    city = build_city(11, SCALE)
    probes = probe_cameras(int(seconds) + 5, "cam-probe")
    with city_servers(SECRET, city, replace(city, devices=probes, lots=[])) as s:
        mport = free_port()
        env = {
            "CITYWATCH_DB_URL": s.pg.url,
            "CITYWATCH_MQTT_PORT": str(s.broker.port),
            "CITYWATCH_DEVICE_SECRET": SECRET,
            "CITYWATCH_INGEST_CLIENT_ID": "bench-ingest",
            "CITYWATCH_INGEST_METRICS_PORT": str(mport),
        }
        ingest = _service("ingest", env)
        while metric(mport, "citywatch_ingest_broker_connected") != 1.0:
            time.sleep(0.05)
        analytics = _service("analytics", env)
        time.sleep(2.0)
        progress(f"background load {load_msgs_per_s:.0f} msg/s for {seconds:.0f}s, a fire probe every second")
        pub = gateway_publisher(s.broker.port, SECRET)

        with Prober(s.pg.url, fire_alerted, interval_s=0.02) as prober:
            t_begin = time.monotonic()
            next_probe, k, sent = t_begin + 1.0, 0, 0
            for o in _paced(city, load_msgs_per_s, seconds, first_seq=0):
                delay = t_begin + sent / load_msgs_per_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pub.send(o)
                sent += 1
                if time.monotonic() >= next_probe and k < len(probes):
                    cam = probes[k].device_id
                    prober.sent_now(cam)
                    pub.send_raw(*fire_probe(cam, 0, f"probe-{k:06d}-fire"))
                    k += 1
                    next_probe += 1.0
                if time.monotonic() - t_begin > seconds:
                    break
            achieved = sent / (time.monotonic() - t_begin)
            pub.flush(60)
        pub.close()
        for p in (analytics, ingest):
            p.send_signal(signal.SIGTERM)
            p.wait(30)
    sent_at, seen_at = prober.sent, prober.seen
    lat = [(seen_at[c] - sent_at[c]) * 1000 for c in sent_at if c in seen_at]
    missing = sorted(set(sent_at) - set(seen_at))
    if missing:
        progress(f"no alert for {missing}")
    result = {
        "alert_latency_p50_ms": round(percentile(lat, 50), 1),
        "alert_latency_p99_ms": round(percentile(lat, 99), 1),
        "alert_latency_max_ms": round(max(lat), 1) if lat else None,
        "probes": len(sent_at),
        "probes_alerted": len(lat),
        "load_msgs_per_s": round(achieved),
        "devices": len(city.devices),
    }
    progress(
        f"alert latency p50 {result['alert_latency_p50_ms']} ms, p99 {result['alert_latency_p99_ms']} ms"
    )
    return result
