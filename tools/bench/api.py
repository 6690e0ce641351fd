"""`citywatch bench api`: dashboard queries against a realistic history.

1. A private PostgreSQL+TimescaleDB holding ``days`` of minute data for
   ``devices`` air-quality stations, loaded with the simulator's backfill (the
   engine's own readings, written by binary COPY in parallel processes), device
   accounting as ingest keeps it, and a few thousand alerts through the alert
   store (open, acknowledged, resolved).
2. The API in its own process (``citywatch api``), called over HTTP with an API
   key, one request at a time after a warm-up, for each typical query:
   latest reading of every station; one station's whole range downsampled to
   <= 1,000 points (a different station each time); the first page of alerts —
   and, as context, the device list and the station list.

Last line: ``api_p99_ms`` (the worst p99 of the three typical queries),
``api_p50_ms`` (their worst p50), ``devices``, ``days``, rows, load time, and
per-query p50/p99.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

from alerts import store
from alerts.model import Acknowledge, Explanation, Raise, Resolve, Severity
from citywatch.contracts.topics import DeviceKind
from citywatch.db import features, rollups
from citywatch.db.migrate import migrate
from simulators.city import City, Scale, build_city
from simulators.engine import simulate
from simulators.provision import register_city
from tools.bench.common import percentile, private_servers, progress
from tools.localservices import PostgresServer, free_port

SEED = 11
AQ_COLS = (
    "time",
    "device_id",
    "seq",
    "pm10",
    "pm25",
    "o3",
    "no2",
    "co",
    "so2",
    "temp_c",
    "rh",
    "received_at",
)


def _city(devices: int) -> City:
    c = build_city(
        SEED,
        Scale(
            stations=devices,
            lots=0,
            spaces_per_lot=0,
            cameras=0,
            routes=1,
            stops_per_route=2,
            buses_per_route=1,
        ),
    )
    return City(c.seed, c.of_kind(DeviceKind.AIR_QUALITY), [], {}, [])


def _load_part(args: tuple[str, int, int, int, float, float]) -> int:
    """One worker: the simulator's readings of every ``stride``-th station, a day at a time, by COPY."""
    url, devices, part, stride, start, end = args
    city = _city(devices)
    mine = City(city.seed, city.devices[part::stride], [], {}, [])
    n = 0
    day = 86400.0
    with psycopg.connect(url, autocommit=True) as conn:
        t = start
        k = 0
        while t < end:
            t1 = min(t + day, end)
            with conn.cursor() as cur, cur.copy(f"COPY air_quality ({', '.join(AQ_COLS)}) FROM STDIN") as cp:
                for o in simulate(mine, t, t1, seed=SEED, first_seq=k * 2000):
                    if o.tag is not None:
                        continue
                    p = orjson.loads(o.payload)
                    ts = datetime.fromisoformat(p["ts"])
                    cp.write_row(
                        (ts, p["device_id"], p["seq"], p.get("pm10"), p.get("pm25"), p.get("o3"), p.get("no2"),
                         p.get("co"), p.get("so2"), p.get("temp_c"), p.get("rh"), ts)
                    )  # fmt: skip
                    n += 1
            t = t1
            k += 1
            if part == 0:
                progress(f"  loaded day {k} of {(end - start) / day:.0f} (about {n * stride:,} rows so far)")
    return n


def load(url: str, devices: int, days: int, workers: int) -> dict[str, Any]:
    city = _city(devices)
    register_city(url, city)
    end = time.time()
    start = end - days * 86400
    t0 = time.perf_counter()
    progress(
        f"loading {days} days of minute data for {devices} stations with the simulator ({workers} processes)…"
    )
    with mp.get_context("spawn").Pool(workers) as pool:
        rows = sum(pool.map(_load_part, [(url, devices, i, workers, start, end) for i in range(workers)]))
    load_s = time.perf_counter() - t0
    progress(f"{rows:,} rows in {load_s:.0f}s ({rows / load_s:,.0f} rows/s); accounting, alerts, ANALYZE…")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO device_streams (device_id, stream, last_seq, max_seq, received, gaps, last_time, last_received_at)"
            " SELECT device_id, 'telemetry', max(seq), max(seq), count(*), 0, max(time), max(received_at)"
            " FROM air_quality GROUP BY device_id"
        )
        rollups.invalidate_all(conn)  # every hour written, as ingest marks the hours it writes
        _alerts(conn, city, days)
        conn.execute("VACUUM ANALYZE")
    return {"rows": rows, "load_s": round(load_s, 1), "end": end}


def _alerts(conn: psycopg.Connection[Any], city: City, days: int, n: int = 3000) -> None:
    rng = random.Random(SEED)
    now = datetime.now(UTC)
    rules = ["aq.stuck", "aq.spike", "aq.drift", "device.offline", "aq.range"]
    for i in range(n):
        d = rng.choice(city.devices).device_id
        rule = rng.choice(rules)
        at = now - timedelta(seconds=rng.uniform(0, days * 86400))
        sev = Severity(rng.choice([1, 2, 2, 3]))
        a = store.apply(
            conn,
            Raise(
                rule, f"{d}#{i}", "aq", sev, f"{rule} on {d}", Explanation(rule=rule, observed=rng.random())
            ),
            at,
        )
        assert a is not None and a.id is not None
        fate = rng.random()
        if fate < 0.85:  # most alerts of a month are long dealt with
            store.apply(conn, Acknowledge("operator"), at + timedelta(minutes=3), alert_id=a.id)
            store.apply(conn, Resolve("operator", "done"), at + timedelta(minutes=40), alert_id=a.id)
        elif fate < 0.93:
            store.apply(conn, Acknowledge("operator"), at + timedelta(minutes=2), alert_id=a.id)


def _measure(
    client: httpx.Client, name: str, make: Any, n: int, warmup: int, least: tuple[str, int] | None = None
) -> dict[str, float]:
    """p50/p99 of ``n`` requests (``make()`` gives each path); ``least``: (list field, length) the answer
    must have, so that an empty answer is not timed as a fast one."""
    for _ in range(warmup):
        client.get(make()).raise_for_status()
    if least is not None:
        got = len(client.get(make()).json()[least[0]])
        if got < least[1]:
            raise RuntimeError(f"{name}: {got} {least[0]}, expected at least {least[1]}")
    times = []
    for _ in range(n):
        path = make()
        t = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    out = {
        "p50_ms": round(percentile(times, 50), 2),
        "p99_ms": round(percentile(times, 99), 2),
        "bytes": len(r.content),
    }
    progress(f"  {name}: p50 {out['p50_ms']} ms, p99 {out['p99_ms']} ms ({out['bytes']:,} bytes)")
    return out


def _measure_airkorea(
    client: httpx.Client, rng: random.Random, ids: list[str], term: str, hours: int, n: int
) -> dict[str, float]:
    """AirKorea's station answer (JSON) for a random station, all of ``term``'s hours in one page; checked
    first to hold readings in its newest hours, so that hours with nothing to average are not what is timed."""
    path = (
        "/B552584/ArpltnInforInqireSvc/getMsrstnAcctoRltmMesureDnsty?returnType=json&numOfRows={}&dataTerm={}"
    )
    probe = client.get(path.format(hours, term) + f"&stationName={ids[0]}")
    probe.raise_for_status()
    items = probe.json()["response"]["body"]["items"]
    if len(items) != hours or all(it["pm25Value"] == "-" for it in items[:3]):
        raise RuntimeError(f"AirKorea {term}: {len(items)} hours, the newest without readings")
    return _measure(
        client, f"AirKorea station answer, {term} ({hours} hours)",
        lambda: path.format(hours, term) + f"&stationName={rng.choice(ids)}", n, 5,
    )  # fmt: skip


@contextlib.contextmanager
def _database(data_dir: Path | None) -> Iterator[str]:
    """A private cluster: in a temporary directory, or kept in ``data_dir`` to be measured again."""
    if data_dir is None:
        with private_servers("bench-secret", durable=False) as servers:
            yield servers.pg.url
        return
    pg = PostgresServer(data_dir / "pg", free_port(), durable=False)
    pg.start()
    try:
        yield pg.url
    finally:
        pg.stop()


def run(
    devices: int = 500, days: int = 30, requests: int = 300, workers: int = 2, data_dir: Path | None = None
) -> dict[str, Any]:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    marker = data_dir / "loaded.json" if data_dir else None
    with _database(data_dir) as url:
        migrate(url)
        features.apply(url)
        previous = orjson.loads(marker.read_bytes()) if marker and marker.exists() else None
        if previous and (previous["devices"], previous["days"]) == (devices, days):
            loaded = previous
            progress(f"reusing the history loaded in {data_dir} ({loaded['rows']:,} rows)")
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE air_quality")
        else:
            loaded = load(url, devices, days, workers)
            loaded.update(devices=devices, days=days, end=time.time())
            if marker:
                marker.write_bytes(orjson.dumps(loaded))
        t_roll = time.perf_counter()
        hours = rollups.refresh_all(url)
        progress(f"hourly rollup: {hours} hours computed in {time.perf_counter() - t_roll:.0f}s")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE air_quality_1h")
            from api.security import new_api_key

            key = new_api_key()
            conn.execute(
                "INSERT INTO api_keys (prefix, digest, name, role, created_by) VALUES (%s, %s, 'bench', 'viewer', 'bench')",
                (key.prefix, key.digest),
            )
            size = conn.execute("SELECT pg_size_pretty(hypertable_size('air_quality'))").fetchone()
        port = free_port()
        env = {
            **os.environ,
            "CITYWATCH_DB_URL": url,
            "CITYWATCH_API_PORT": str(port),
            "CITYWATCH_API_HOST": "127.0.0.1",
        }
        api = subprocess.Popen([sys.executable, "-m", "tools", "--log-level", "WARNING", "api"], env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).json()["checks"]["database"]["ok"]:
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the API did not start")
                time.sleep(0.3)
            ids = [d.device_id for d in _city(devices).devices]
            rng = random.Random(1)
            end = datetime.fromtimestamp(loaded.get("end", time.time()), UTC)
            iso = "%Y-%m-%dT%H:%M:%SZ"
            start, stop = (end - timedelta(days=days)).strftime(iso), end.strftime(iso)
            progress(f"API up (pid {api.pid}); {requests} requests per query, one at a time")
            with httpx.Client(base_url=base, headers={"X-API-Key": key.secret}, timeout=30) as c:
                typical = {
                    "latest_500": _measure(
                        c, f"latest reading of {devices} stations", lambda: "/api/v1/telemetry/latest?kind=aq",
                        requests, 20,
                    ),
                    "series_30d": _measure(
                        c, f"one station, {days} days, <= 1000 points",
                        lambda: f"/api/v1/devices/{rng.choice(ids)}/series?metric=pm25&max_points=1000"
                        f"&start={start}&end={stop}",
                        requests, 20, least=("points", 24 * days - 1),
                    ),
                    "alerts_page": _measure(
                        c, "first page of open alerts", lambda: "/api/v1/alerts?limit=50", requests, 20
                    ),
                }  # fmt: skip
                context = {
                    "devices_list": _measure(c, "device list", lambda: "/api/v1/devices?kind=aq", requests // 3, 5),
                    "stations": _measure(c, "air-quality stations", lambda: "/api/v1/airquality/stations", requests // 3, 5),
                    "resolved_alerts_page": _measure(
                        c, "resolved alerts page", lambda: "/api/v1/alerts?state=resolved&limit=50", requests // 3, 5
                    ),
                    **{
                        f"airkorea_{term.lower()}": _measure_airkorea(c, rng, ids, term, hours, requests // 3)
                        for term, hours in (("DAILY", 24), ("MONTH", 720))
                    },
                }  # fmt: skip
        finally:
            api.terminate()
            api.wait(10)
    return {
        "api_p99_ms": max(q["p99_ms"] for q in typical.values()),
        "api_p50_ms": max(q["p50_ms"] for q in typical.values()),
        "devices": devices,
        "days": days,
        "rows": loaded["rows"],
        "load_s": loaded["load_s"],
        "table_size": size[0] if size else None,
        "requests_per_query": requests,
        "queries": {
            k: {"p50_ms": v["p50_ms"], "p99_ms": v["p99_ms"]} for k, v in {**typical, **context}.items()
        },
    }
