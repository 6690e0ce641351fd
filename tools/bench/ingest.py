"""`citywatch bench ingest`.

1. drain: ingest's persistent session is pre-loaded with N messages of the
   simulated city's device mix while ingest is down (QoS 1); then one ingest
   worker starts and drains it (manual acks after commit, idempotent writes).
2. live: ingest running, the simulators publish N more as fast as they can.
3. latency: publishing at 50 % of the drain rate with fresh timestamps, a probe
   device publishes every 100 ms and a poller records when each probe row
   becomes queryable: publish -> queryable latency.
4. batched: a gateway's SenML packs (``pack_size`` readings each) pre-loaded
   while ingest is down, then drained: readings/s.
Beside them, the raw ceilings of this machine in the same run
(tools.bench.ceilings): a bare paho subscriber draining the same
pre-loaded messages, and one bare binary COPY stream of the same rows.
Then every reading is accounted for: sent = stored + dead-lettered, none lost,
none stored twice. PostgreSQL runs with fsync on.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from citywatch.contracts import messages as m
from citywatch.contracts.senml import to_pack
from citywatch.contracts.topics import DeviceKind, Stream, topic_for
from ingest.decode import DeviceInfo
from simulators.city import Device, Scale, build_city
from simulators.engine import Out, simulate
from tools.bench.ceilings import BareSubscriber, copy_rate, rows_of
from tools.bench.common import (
    Prober,
    Servers,
    city_servers,
    gateway_publisher,
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
PROBE = "aq-probe"
GATEWAY = "aq-gateway"


def _packs(stations: list[str], readings: int, size: int, end: float) -> Iterator[bytes]:
    """Packs of ``size`` readings, round the stations, a reading a minute each, ending at ``end``."""
    rounds = -(-readings // len(stations))
    start = end - rounds * 60.0
    batch: list[m.AirQualityReading] = []
    for k in range(readings):
        station, minute = stations[k % len(stations)], k // len(stations)
        t = datetime.fromtimestamp(start + minute * 60.0, UTC)
        v = 10.0 + (k * 7919 % 400) / 10
        batch.append(
            m.AirQualityReading(
                device_id=station,
                ts=t,
                seq=5_000_000 + minute,
                pm25=v,
                pm10=v * 1.6,
                o3=0.03,
                temp_c=12.0,
                rh=55.0,
            )
        )
        if len(batch) == size:
            yield to_pack(batch)
            batch = []
    if batch:
        yield to_pack(batch)


def _ingest(s: Servers, metrics_port: int, worker: int = 0, shared: bool = False) -> subprocess.Popen[bytes]:
    wrap = None
    profile_dir = os.environ.get("CITYWATCH_BENCH_PROFILE")
    if profile_dir:  # sample the worker with py-spy (collapsed stacks; see scripts/profile-top.py)
        Path(profile_dir).mkdir(parents=True, exist_ok=True)
        out = Path(profile_dir) / f"ingest-{worker}-{int(time.time())}.txt"
        wrap = ["py-spy", "record", "--format", "raw", "--rate", "250", "--nonblocking", "-o", str(out), "--"]
    return start_ingest(
        s,
        SECRET,
        f"bench-ingest-{worker}",
        metrics_port,
        shared_group="ingest" if shared else None,
        wrap=wrap,
    )


def _count(conn: psycopg.Connection[Any], sql: str) -> int:
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _received(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT coalesce(sum(received), 0) FROM ingest_counters").fetchone()
    return int(row[0]) if row else 0


def _wait_received(conn: psycopg.Connection[Any], target: int, label: str, timeout: float = 600) -> float:
    t0 = time.monotonic()
    last = t0
    while (n := _received(conn)) < target:
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"{label}: only {n} of {target} messages arrived")
        if time.monotonic() - last > 2:
            progress(f"{label}: {n}/{target} committed")
            last = time.monotonic()
        time.sleep(0.02)
    return time.monotonic()


def _since_first_receipt(conn: psycopg.Connection[Any], tables: tuple[str, ...], where: str) -> float:
    """Seconds from the first message of a phase reaching a worker to now (its last commit): the drain's
    own duration, whenever each worker process finished starting (they start one after another)."""
    firsts = [
        conn.execute(f"SELECT extract(epoch FROM min(received_at)) FROM {t} WHERE {where}").fetchone()
        for t in tables
    ]
    first = min(float(r[0]) for r in firsts if r and r[0] is not None)
    return time.time() - first


def _messages(city: Any, n: int, end: float, first_seq: int, seed: int, hours: float = 48.0) -> list[Out]:
    """``n`` messages of the city's traffic; each phase has its own seed, so CCTV event ids never repeat."""
    outs = list(itertools.islice(simulate(city, end - hours * 3600, end, seed=seed, first_seq=first_seq), n))
    if len(outs) < n:
        raise RuntimeError(f"the city produced only {len(outs)} messages; raise hours")
    return outs


def _publish(s: Servers, outs: list[Out], name: str) -> int:
    """Publish the city's data messages as fast as the broker takes them; how many were acknowledged."""
    pub = load_publisher(s, SECRET, name)
    for o in outs:
        if o.tag is None:  # fault traffic and connection controls are not part of the load
            pub.send(o.topic, o.payload)
    if not pub.flush(300):
        raise RuntimeError("the broker did not acknowledge every publish")
    pub.close()
    return pub.acked


def _paced(city: Any, rate: float, seconds: float, first_seq: int) -> Iterator[Out]:
    """Fresh-timestamped city traffic at about ``rate`` msg/s for ``seconds``."""
    sample = list(itertools.islice(simulate(city, 0, 3600, seed=13), 200_000))
    sim_rate = len(sample) / 3600
    speed = rate / sim_rate
    now = time.time()
    start = now - seconds * speed  # ends near "now", so no timestamp is in the future
    return simulate(city, start, start + seconds * speed, seed=13, first_seq=first_seq)


def _start(s: Servers, workers: int) -> list[subprocess.Popen[bytes]]:
    return [_ingest(s, free_port(), i, shared=workers > 1) for i in range(workers)]


def _worker_pid(p: subprocess.Popen[bytes]) -> int:
    """The ingest process itself (under py-spy when profiling, it is py-spy's child)."""
    if not os.environ.get("CITYWATCH_BENCH_PROFILE"):
        return p.pid
    children = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
    return int(children[0]) if children else p.pid


def _rss_now(procs: list[subprocess.Popen[bytes]]) -> float:
    """All workers' resident memory now, MB."""
    return round(sum(peak_rss_mb(_worker_pid(p), "VmRSS") for p in procs), 1)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        os.kill(_worker_pid(p), signal.SIGTERM)  # py-spy, when profiling, ends with it and writes its profile
    for p in procs:
        p.wait(30)


def run(
    messages: int = 100_000,
    live_seconds: float = 15.0,
    workers: int = 1,
    pack_readings: int = 500_000,
    pack_size: int = 50,
    latency_rate: float | None = None,
) -> dict[str, Any]:
    city = build_city(11, SCALE)
    probe = Device(PROBE, DeviceKind.AIR_QUALITY, "latency probe", 37.26, 127.02, "paldal", 0.1)
    gateway = Device(GATEWAY, DeviceKind.AIR_QUALITY, "station gateway", 37.27, 127.03, "paldal", 60.0)
    stations = [d.device_id for d in city.of_kind(DeviceKind.AIR_QUALITY)]
    with city_servers(SECRET, city, replace(city, devices=[probe, gateway], lots=[])) as s:
        with psycopg.connect(s.pg.url, autocommit=True) as c:
            c.execute(
                "UPDATE devices SET meta = meta || jsonb_build_object('gateway', %s::text) WHERE device_id = ANY(%s)",
                (GATEWAY, stations),
            )
        conn = psycopg.connect(s.pg.url, autocommit=True)
        progress(
            f"city: {len(city.devices)} devices; creating the persistent session of {workers} ingest worker(s)"
        )
        _stop(_start(s, workers))
        bare = BareSubscriber(s.broker.port, SECRET, clients=workers)
        bare.create()

        # 1. drain
        now = time.time() - 60
        outs = _messages(city, messages, now, first_seq=0, seed=11)
        progress(f"pre-loading the broker with {len(outs)} messages while ingest is down")
        t0 = time.monotonic()
        sent1 = _publish(s, outs, "bench-drain-load")
        progress(
            f"pre-loaded in {time.monotonic() - t0:.1f}s ({len(outs) / (time.monotonic() - t0):.0f} msg/s)"
        )
        base = _received(conn)
        procs = _start(s, workers)
        _wait_received(conn, base + len(outs), "drain")
        drain_rate = len(outs) / _since_first_receipt(conn, STREAMS, "true")
        progress(
            f"drain: {drain_rate:.0f} msg/s; the bare subscriber now drains its copy of the same messages"
        )
        rss_after: dict[str, float] = {"drain": _rss_now(procs)}
        ceiling_recv = bare.drain(len(outs))
        progress(
            f"ceiling: {workers} bare paho subscriber process(es) (QoS 1, no processing) take {ceiling_recv:.0f} msg/s"
        )
        registry = {d.device_id: DeviceInfo(d.kind) for d in city.devices}
        ceiling_copy, copied = copy_rate(s.pg.url, rows_of(((o.topic, o.payload) for o in outs), registry))
        progress(f"ceiling: one bare binary COPY stream writes {ceiling_copy:.0f} rows/s ({copied} rows)")

        # 2. live: publishers and ingest at the same time
        outs2 = _messages(city, messages, now, first_seq=1_000_000, seed=12)
        base = _received(conn)
        t_start = time.monotonic()
        sent2: list[int] = []
        th = threading.Thread(target=lambda: sent2.append(_publish(s, outs2, "bench-live-load")))
        th.start()
        t_done = _wait_received(conn, base + len(outs2), "live")
        th.join()
        live_rate = len(outs2) / (t_done - t_start)
        progress(f"live: {live_rate:.0f} msg/s")
        rss_after["live"] = _rss_now(procs)

        # 3. latency at 50 % of the drain rate
        target = latency_rate or drain_rate * 0.5
        progress(f"latency: {live_seconds:.0f}s at {target:.0f} msg/s with a probe every 100 ms")
        stream = list(_paced(city, target, live_seconds, first_seq=2_000_000))  # made before: the generator's
        # own simulation would otherwise compete with the platform for the two cores
        # the load leaves through a raw socket writer (a paho publisher on these two cores tops out near
        # half the drain rate, and would measure itself); probes go through paho on their own connection
        pub3 = load_publisher(s, SECRET, "bench-latency-load")
        probe_pub = gateway_publisher(s.broker.port, SECRET)

        def visible(c: psycopg.Connection[Any], pending: set[Any]) -> list[Any]:
            row = c.execute("SELECT max(seq) FROM air_quality WHERE device_id = %s", (PROBE,)).fetchone()
            top = row[0] if row and row[0] is not None else -1
            return [k for k in pending if k <= top]

        with Prober(s.pg.url, visible, interval_s=0.005) as prober:
            t_begin = time.monotonic()
            next_probe = t_begin
            seq = sent3 = 0
            for o in stream:
                if o.tag is not None:  # fault traffic and connection controls: not part of this load
                    continue
                pub3.send(o.topic, o.payload)
                sent3 += 1
                now = time.monotonic()
                ahead = t_begin + sent3 / target - now
                if ahead > 0.001:
                    pub3.push()
                    time.sleep(ahead)
                if now >= next_probe:
                    pub3.push()
                    body = m.to_json(
                        m.AirQualityReading(device_id=PROBE, ts=datetime.now(UTC), seq=seq, pm25=1.0)
                    )
                    prober.sent_now(seq)
                    probe_pub.send(
                        Out(0, PROBE, DeviceKind.AIR_QUALITY, topic_for(DeviceKind.AIR_QUALITY, PROBE), body)
                    )
                    seq += 1
                    next_probe += 0.1
                if now - t_begin > live_seconds:
                    break
            achieved = sent3 / (time.monotonic() - t_begin)
            if not pub3.flush(60):
                raise RuntimeError("the broker did not acknowledge the latency load")
            probe_pub.flush(60)
        progress(f"latency: the generator reached {achieved:.0f} of {target:.0f} msg/s")
        latencies = prober.latencies_ms()
        rss_after["latency"] = _rss_now(procs)
        probes = prober.sent

        sent = sent1 + sent2[0] + pub3.acked + probe_pub.sent["data"]
        pub3.close()
        _wait_received(conn, sent, "final")
        time.sleep(0.5)
        rss = max(peak_rss_mb(_worker_pid(p)) for p in procs)
        _stop(procs)

        # 4. batched: a gateway's SenML packs, pre-loaded while ingest is down
        progress(
            f"batched: pre-loading {pack_readings} readings in packs of {pack_size} while ingest is down"
        )
        pub4 = load_publisher(s, SECRET, "bench-pack-load")
        topic = topic_for(DeviceKind.AIR_QUALITY, GATEWAY, Stream.PACK)
        packs = 0
        for body in _packs(stations, pack_readings, pack_size, time.time() - 60):
            pub4.send(topic, body)
            packs += 1
        if not pub4.flush(300):
            raise RuntimeError("the broker did not acknowledge every pack")
        pub4.close()
        base = _received(conn)
        procs = _start(s, workers)
        _wait_received(conn, base + pack_readings, "batched")
        took = _since_first_receipt(conn, ("air_quality",), "seq >= 5000000")
        batched_rate = pack_readings / took
        progress(f"batched: {batched_rate:.0f} readings/s ({packs / took:.0f} packs/s)")
        time.sleep(0.5)
        batched_rss = max(peak_rss_mb(_worker_pid(p)) for p in procs)
        _stop(procs)
        sent += pack_readings
        stored = sum(_count(conn, f"SELECT count(*) FROM {t}") for t in STREAMS)
        distinct = sum(_count(conn, f"SELECT count(DISTINCT (device_id, seq)) FROM {t}") for t in STREAMS)
        dead = _count(conn, "SELECT count(*) FROM dead_letters")
        conn.close()
    return {
        "ingest_drain_msgs_per_s": round(drain_rate),
        "ingest_batched_readings_per_s": round(batched_rate),
        "ingest_live_msgs_per_s": round(live_rate),
        "ceiling_mqtt_recv_msgs_per_s": round(ceiling_recv),
        "ceiling_copy_rows_per_s": round(ceiling_copy),
        "drain_vs_mqtt_ceiling": round(drain_rate / ceiling_recv, 3),
        "e2e_latency_p50_ms": round(percentile(latencies, 50), 1),
        "e2e_latency_p99_ms": round(percentile(latencies, 99), 1),
        "latency_load_msgs_per_s": round(target),
        "latency_load_achieved_msgs_per_s": round(achieved),
        "latency_probes": len(probes),
        "latency_probes_seen": len(latencies),
        "ingest_peak_rss_mb": round(rss, 1),
        "ingest_batched_peak_rss_mb": round(batched_rss, 1),
        "ingest_rss_after_mb": rss_after,  # all workers' resident memory after each phase: flat, not growing
        "sent": sent,
        "stored": stored,
        "dead_lettered": dead,
        "lost": sent - stored - dead,
        "duplicated": stored - distinct,
        "conditions": {
            "workers": workers,
            "qos": 1,
            "ack": "after commit",
            "fsync": True,
            "devices": len(city.devices) + 1,
            "drain_messages": len(outs),
            "live_messages": len(outs2),
            "pack_size": pack_size,
            "packs": packs,
            "pack_readings": pack_readings,
            "ceiling_copy": "one stream, binary, same rows as the drain, into empty copies of the hypertables",
            "ceiling_recv": "as many paho client processes as workers (shared subscription), QoS 1, persistent"
            " session, the same pre-loaded messages, no processing",
            "load": "raw QoS 1 socket writer (tools.bench.rawpub); latency probes through paho",
            "cores": os.cpu_count(),
        },
    }
