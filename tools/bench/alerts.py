"""`citywatch bench alerts`: how soon a reading that breaks a rule becomes an alert.

Ingest and analytics run as their own processes against a private PostgreSQL
(fsync on) and Mosquitto, while the simulated city publishes a background load
(through a raw socket writer, so that the publisher does not measure itself).
After 5 s of load, every second a probe camera (a new one each time, so each
probe opens a new alert) publishes a fire event; pollers record when its event
row is stored and when its alert row appears. Figures: publish -> event stored
(ingest), stored -> alert (the issue's "within 5 s of ingest") and publish ->
alert, end to end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from typing import Any

from simulators.city import build_city
from tools.bench.alert_faults import fire_alerted, fire_probe, fire_stored, probe_cameras
from tools.bench.common import (
    Prober,
    city_servers,
    gateway_publisher,
    load_publisher,
    metric,
    percentile,
    progress,
    start_ingest,
)
from tools.bench.ingest import SCALE, SECRET, _paced
from tools.localservices import free_port

WARMUP_S = 5.0  # of background load before the first probe


def _service(module: str, env: dict[str, str], level: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", module], env={**os.environ, **env, "CITYWATCH_LOG_LEVEL": level}
    )


def run(load_msgs_per_s: float = 3000.0, seconds: float = 30.0, workers: int = 1) -> dict[str, Any]:
    city = build_city(11, SCALE)
    probes = probe_cameras(int(seconds) + 5, "cam-probe")
    level = os.environ.get("CITYWATCH_BENCH_SERVICE_LOG_LEVEL", "WARNING")
    with city_servers(SECRET, city, replace(city, devices=probes, lots=[])) as s:
        aport = free_port()
        env = {
            "CITYWATCH_DB_URL": s.pg.url,
            "CITYWATCH_MQTT_PORT": str(s.broker.port),
            "CITYWATCH_DEVICE_SECRET": SECRET,
            "CITYWATCH_ANALYTICS_METRICS_PORT": str(aport),
        }
        ingest = [  # each returned once connected to the broker; a shared subscription when several
            start_ingest(
                s,
                SECRET,
                f"bench-ingest-{i}",
                free_port(),
                shared_group="ingest" if workers > 1 else None,
                log_level=level,
            )
            for i in range(workers)
        ]
        analytics = _service("analytics", env, level)
        # measure the running service, not its start (imports and the first look at the city take seconds)
        started, deadline = time.monotonic(), time.monotonic() + 120
        while (metric(aport, "citywatch_analytics_steps_total") or 0) < 1:
            if analytics.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("analytics did not start")
            time.sleep(0.1)
        progress(f"analytics running after {time.monotonic() - started:.1f} s")
        progress(
            f"background load {load_msgs_per_s:.0f} msg/s for {WARMUP_S + seconds:.0f}s, a fire probe every"
            f" second after the first {WARMUP_S:.0f}s"
        )
        # made before, so that the generator's own simulation does not compete with the platform; the load
        # leaves through a raw socket writer (a paho publisher on two cores tops out near this load, and its
        # queue would delay the probes behind it: the bench would measure itself); probes go through paho,
        # on their own connection
        stream = [o for o in _paced(city, load_msgs_per_s, seconds + WARMUP_S, first_seq=0) if o.tag is None]
        load = load_publisher(s, SECRET, "bench-alerts-load")
        pub = gateway_publisher(s.broker.port, SECRET)

        with (
            Prober(s.pg.url, fire_alerted, interval_s=0.02) as prober,
            Prober(s.pg.url, fire_stored, interval_s=0.02) as stored,
        ):
            t_begin = time.monotonic()
            # the load's first seconds are the first sight of every device: probes start after them
            next_probe, k, sent = t_begin + WARMUP_S, 0, 0
            for o in stream:
                load.send(o.topic, o.payload)
                sent += 1
                now = time.monotonic()
                ahead = t_begin + sent / load_msgs_per_s - now
                if ahead > 0.001:
                    load.push()
                    time.sleep(ahead)
                if now >= next_probe and k < len(probes):
                    load.push()
                    cam = probes[k].device_id
                    prober.sent_now(cam)
                    stored.sent_now(cam)
                    pub.send_raw(*fire_probe(cam, 0, f"probe-{k:06d}-fire"))
                    k += 1
                    next_probe += 1.0
                if now - t_begin > seconds + WARMUP_S:
                    break
            achieved = sent / (time.monotonic() - t_begin)
            if not load.flush(60):
                raise RuntimeError("the broker did not acknowledge the load")
            pub.flush(60)
        load.close()
        pub.close()
        for p in (analytics, *ingest):
            p.send_signal(signal.SIGTERM)
            p.wait(30)
    sent_at, seen_at = prober.sent, prober.seen
    lat = [(seen_at[c] - sent_at[c]) * 1000 for c in sent_at if c in seen_at]
    missing = sorted(set(sent_at) - set(seen_at))
    in_order = sorted(sent_at, key=sent_at.__getitem__)
    progress(
        "latency by probe, in order (s): "
        + " ".join(f"{seen_at[c] - sent_at[c]:.2f}" if c in seen_at else "-" for c in in_order)
    )
    if missing:
        progress(f"no alert for {missing}")
    stored_ms = stored.latencies_ms()
    # the target: from the reading being ingested (its row committed) to its alert
    after = [(seen_at[c] - stored.seen[c]) * 1000 for c in sent_at if c in seen_at and c in stored.seen]
    result = {
        "event_stored_p50_ms": round(percentile(stored_ms, 50), 1),
        "event_stored_p99_ms": round(percentile(stored_ms, 99), 1),
        "alert_after_ingest_p50_ms": round(percentile(after, 50), 1),
        "alert_after_ingest_p99_ms": round(percentile(after, 99), 1),
        "alert_latency_p50_ms": round(percentile(lat, 50), 1),
        "alert_latency_p99_ms": round(percentile(lat, 99), 1),
        "alert_latency_max_ms": round(max(lat), 1) if lat else None,
        "probes": len(sent_at),
        "probes_alerted": len(lat),
        "load_msgs_per_s": round(achieved),
        "devices": len(city.devices),
        "ingest_workers": workers,
    }
    progress(
        f"alert latency p50 {result['alert_latency_p50_ms']} ms, p99 {result['alert_latency_p99_ms']} ms"
        f" (of which ingest, to the event stored: p50 {result['event_stored_p50_ms']} ms,"
        f" p99 {result['event_stored_p99_ms']} ms; from stored to alert: p50 {result['alert_after_ingest_p50_ms']}"
        f" ms, p99 {result['alert_after_ingest_p99_ms']} ms)"
    )
    return result
