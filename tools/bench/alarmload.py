"""`citywatch bench alarmload`: does citywatch spam its operators? The alarm load (ISA-18.2 / EEMUA 191,
:mod:`alerts.load`) of its own rules over simulated days of a city with labelled faults and shared
pollution episodes.

The days go through the real path: a private PostgreSQL (TimescaleDB) and Mosquitto, an ingest worker as
its own process, the city's traffic published as fast as the broker takes it (faults, malformed and
duplicate messages included), then the analytics service re-evaluates the range (``citywatch analytics
--from/--to``) and the alarm load is read back as ``GET /api/v1/alerts/load`` computes it. Device health
by silence and Last Will is live-only (a re-evaluation does not raise it), so offline devices are not
in these figures; their grouping is measured by ``bench detect``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from alerts import queries
from alerts.load import alarm_load
from simulators.city import build_city
from simulators.engine import plan_episodes, plan_faults, simulate
from tools.bench.common import city_servers, load_publisher, progress, start_ingest
from tools.bench.detect import SIM_SCALE
from tools.bench.ingest import _wait_received
from tools.localservices import free_port

SECRET = "bench-alarmload-secret"
KINDS = ("stuck", "spike", "drift", "dropout", "malformed", "duplicate")


def span(days: float, start: datetime | None, now: float) -> tuple[float, float]:
    """The simulated range (epoch seconds): from ``start`` if given (runs from one start are comparable
    alert by alert), else the last ``days`` up to two minutes ago; every timestamp in the past, as a replay."""
    if days <= 0:
        raise ValueError("days must be positive")
    if start is None:
        end = now - 120
        return end - days * 86400, end
    if start.tzinfo is None:
        raise ValueError("start needs a time zone (e.g. 2026-11-02T00:00:00+09:00)")
    t0 = start.timestamp()
    if t0 + days * 86400 > now - 120:
        raise ValueError(f"{start.isoformat()} plus {days:g} days reaches into the future: start earlier")
    return t0, t0 + days * 86400


def run(
    days: float = 2.0, seed: int = 21, faults_per_kind: int = 2, start_at: datetime | None = None
) -> dict[str, Any]:
    start, end = span(days, start_at, time.time())
    city = build_city(seed, SIM_SCALE)
    city = replace(city, devices=[d for d in city.devices if not d.meta.get("gateway")])
    faults = plan_faults(city, seed, start, end, faults_per_kind, KINDS)
    episodes = plan_episodes(seed, start, end)
    progress(
        f"simulating {days:g} days of {len(city.devices)} devices with {len(faults)} labelled faults and"
        f" {len(episodes)} shared pollution episodes"
    )
    stream = [  # Last Wills and reconnections are connection controls, and device health is live-only
        o
        for o in simulate(city, start, end, seed=seed, faults=faults, episodes=episodes)
        if o.tag not in ("offline", "online")
    ]
    with city_servers(SECRET, city) as s:
        ingest = start_ingest(s, SECRET, "bench-alarmload-ingest", free_port(), oldest=start)
        pub = load_publisher(s, SECRET, "bench-alarmload-load")
        t0 = time.monotonic()
        for i, o in enumerate(stream):
            pub.send(o.topic, o.payload)
            if i % 20_000 == 0:
                pub.push()
                progress(f"published {i:,} of {len(stream):,}")
        if not pub.flush(300):
            raise RuntimeError("the broker did not acknowledge every message")
        pub.close()
        with psycopg.connect(s.pg.url, autocommit=True) as conn:
            _wait_received(conn, len(stream), "ingest", timeout=900)
        ingest.terminate()
        ingest.wait(30)
        progress(
            f"ingested {len(stream):,} messages in {time.monotonic() - t0:.0f} s; re-evaluating the range"
        )
        t1 = time.monotonic()
        t_from = datetime.fromtimestamp(start, UTC)
        t_to = datetime.fromtimestamp(end, UTC) + timedelta(minutes=1)
        env = {
            **os.environ,
            "CITYWATCH_DB_URL": s.pg.url,
            "CITYWATCH_MQTT_PORT": str(s.broker.port),
            "CITYWATCH_DEVICE_SECRET": SECRET,
            "CITYWATCH_ANALYTICS_METRICS_PORT": str(free_port()),
            "CITYWATCH_LOG_LEVEL": os.environ.get("CITYWATCH_BENCH_SERVICE_LOG_LEVEL", "WARNING"),
        }
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tools",
                "analytics",
                "--from",
                t_from.isoformat(),
                "--to",
                t_to.isoformat(),
            ],
            env=env,
            check=True,
        )
        took = time.monotonic() - t1
        progress(f"analytics over {days:g} days took {took:.0f} s")
        # the service evaluates up to --to plus its lateness allowance (90 s): what it raised then counts too
        t_end = t_to + timedelta(minutes=2)
        with psycopg.connect(s.pg.url, autocommit=True) as conn:
            items, live = queries.annunciations(conn, t_from, t_end)
            alerts = conn.execute("SELECT count(*) FROM alerts").fetchone()
            evaluated = {  # what the re-evaluation read, per stream
                table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
                for table in ("air_quality", "cctv_events", "parking_events", "parking_counts")
            }
            by_rule: dict[str, int] = dict(
                conn.execute("SELECT rule, count(*) FROM alerts GROUP BY 1 ORDER BY 2 DESC").fetchall()
            )
    x = alarm_load(items, t_from, t_end, live)
    by_desk: dict[str, dict[str, Any]] = {}  # a desk per kind of device, as a centre would staff it
    for kind in sorted({a.kind for a in items}):
        d = alarm_load([a for a in items if a.kind == kind], t_from, t_end)
        by_desk[kind] = {k: d[k] for k in ("annunciations", "per_10min", "rating")}
        by_desk[kind] |= {"peak_10min": d["peak_10min"]["annunciations"], "floods": len(d["floods"])}
        progress(
            f"  desk {kind}: {d['annunciations']} annunciations, {d['per_10min']:.2f} per 10 min ({d['rating']})"
        )
    progress(
        f"alarm load: {x['annunciations']} annunciations, {x['per_10min']:.2f} per 10 min ({x['rating']}),"
        f" peak {x['peak_10min']['annunciations']} in 10 min, {len(x['floods'])} floods,"
        f" {len(x['chattering'])} chattering"
    )
    for t in x["top"][:5]:
        progress(f"  most frequent: {t['rule']} on {t['subject']}: {t['annunciations']}")
    return {
        "alarm_annunciations": x["annunciations"],
        "alarm_per_10min": x["per_10min"],
        "alarm_per_day": x["per_day"],
        "alarm_rating": x["rating"],
        "alarm_peak_10min": x["peak_10min"]["annunciations"],
        "alarm_floods": len(x["floods"]),
        "alarm_time_in_flood": x["time_in_flood"],
        "alarm_chattering": len(x["chattering"]),
        "alarm_top_share": x["top_share"],
        "alarm_severity_mix": x["severity_mix"],
        "alarm_stale": x["stale"],
        "alarm_by_desk": by_desk,
        "alarm_warning_or_worse_per_10min": x["warning_or_worse_per_10min"],
        "alarm_warning_or_worse_rating": x["warning_or_worse_rating"],
        "alarm_top": [{k: t[k] for k in ("rule", "subject", "annunciations")} for t in x["top"]],
        "alerts": alerts[0] if alerts else 0,
        # minute data: every stream's rows over the re-evaluation's time (air quality, CCTV, parking)
        "reevaluation_rows": evaluated,
        "reevaluation_rows_per_s": round(sum(evaluated.values()) / took, 1),
        "alerts_by_rule": by_rule,
        "messages": len(stream),
        "days": days,
        "start": datetime.fromtimestamp(start, UTC).isoformat(),
        "devices": len(city.devices),
        "faults": len(faults),
        "episodes": len(episodes),
    }
