"""``citywatch bench realdata``: what the analytics raise on real data that nobody here wrote.

Real public series go through the real path a city's history would take — the device registered, its
past readings imported from CSV through ingest's validation and dead letters (:mod:`tools.history`),
then re-evaluated by the analytics service — and the alerts are counted:

* the **UCI roadside series** (``../shared/data/uci_air_quality``: a year of hourly CO and NO2 of a
  reference analyser in an Italian city, with its real outages; the analyser's units converted to ppm as
  :mod:`simulators.uci` does), as one station, in the city's own time zone (Europe/Rome);
* a **real multi-station network** or a **real garage-count series**, where one is present in
  ``../shared/data`` (none is yet: their figures are ``null``, not zero).

Printed: readings imported and dead-lettered, re-evaluation readings/s, alerts opened per rule, alerts
per 1,000 device-hours (inside and outside shared episodes: ``null`` with one station, where no episode
can be shared), and the alarm load per 10 minutes (ISA-18.2 / EEMUA 191, :mod:`alerts.load`).
"""

from __future__ import annotations

import csv
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from alerts import queries
from alerts.load import alarm_load
from analytics.service import AnalyticsService
from citywatch.db.schema import migrate_all
from citywatch.settings import DatabaseSettings, Settings
from ingest.store import Store
from simulators.uci import CO_MG_TO_PPM, NO2_UG_TO_PPM, read
from tools.bench.common import private_servers, progress
from tools.history import WORKER, import_history

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
UCI = SHARED / "uci_air_quality" / "AirQualityUCI.csv"
STATION = "uci-roadside"
CITY_TZ = "Europe/Rome"


def _history_csv(src: Path, out: Path) -> int:
    """The UCI file as a station's history CSV (local times, ppm); hours with nothing measured left out."""
    n = 0
    with out.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "co", "no2", "temp_c", "rh"])
        for when, v in read(src):
            co, no2 = v["CO(GT)"], v["NO2(GT)"]
            if co is None and no2 is None:
                continue  # the analysers were down: the station sent nothing
            w.writerow([
                when.isoformat(),
                "" if co is None else round(co * CO_MG_TO_PPM, 3),
                "" if no2 is None else round(no2 * NO2_UG_TO_PPM, 4),
                "" if v["T"] is None else v["T"],
                "" if v["RH"] is None else min(100.0, max(0.0, v["RH"])),
            ])  # fmt: skip
            n += 1
    return n


def _uci(url: str, workdir: Path) -> dict[str, Any]:
    settings = Settings(db=DatabaseSettings(url=url), timezone=CITY_TZ)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO zones (zone_id, name) VALUES ('uci', 'UCI roadside')")
        conn.execute(
            "INSERT INTO devices (device_id, kind, name, zone_id, expected_interval_s)"
            " VALUES (%s, 'aq', 'UCI roadside multisensor', 'uci', 3600)",
            (STATION,),
        )
    rows = _history_csv(UCI, workdir / "uci.csv")
    progress(f"UCI: importing {rows} hours of CO and NO2 as {STATION}")
    store = Store(url, WORKER)
    try:
        got = import_history(
            store, workdir / "uci.csv", STATION, settings.tz,
            show=lambda n, so_far: progress(f"  imported {n} rows, {so_far.dead_lettered} dead-lettered"),
        )  # fmt: skip
    finally:
        store.close()
    assert got.first is not None and got.last is not None
    service = AnalyticsService(settings)
    service.progress = lambda text, done: progress(f"  {100 * done:3.0f}% {text}")
    started = time.monotonic()
    n = service.evaluate_range(got.first - timedelta(minutes=1), got.last)
    took = time.monotonic() - started
    with psycopg.connect(url) as conn:
        by_rule: dict[str, int] = dict(
            conn.execute("SELECT rule, count(*) FROM alerts GROUP BY rule ORDER BY 2 DESC").fetchall()
        )
        end = got.last + timedelta(hours=1)
        items, live = queries.annunciations(conn, got.first, end)
    load = alarm_load(items, got.first, end, live)
    device_hours = got.written
    alerts = sum(by_rule.values())
    progress(
        f"UCI: {alerts} alerts in {device_hours} station-hours ({1000 * alerts / device_hours:.1f} per 1,000);"
        f" {load['annunciations']} annunciations, {load['per_10min']:.3f} per 10 min; re-evaluated {n / took:.0f}"
        " readings/s"
    )
    for rule, count in by_rule.items():
        progress(f"  {rule}: {count}")
    return {
        "uci_rows": got.rows,
        "uci_written": got.written,
        "uci_duplicates": got.duplicates,  # local hours a daylight-saving change repeats
        "uci_dead_lettered": got.dead_lettered,
        "uci_dead_by_reason": got.dead_by_reason,
        "uci_alerts_by_rule": by_rule,
        "uci_alerts_per_1000_device_hours": round(1000 * alerts / device_hours, 2),
        "uci_alerts_per_1000_device_hours_in_shared_episodes": None,  # one station: no episode is shared
        "uci_alerts_per_1000_device_hours_outside_shared_episodes": None,
        "uci_annunciations": load["annunciations"],
        "uci_alarm_per_10min": round(load["per_10min"], 4),
        "uci_alarm_peak_10min": load["peak_10min"]["annunciations"],
        "uci_reevaluation_readings_per_s": round(n / took, 1),
    }


def run() -> dict[str, Any]:
    out: dict[str, Any] = {
        "network_alerts_per_1000_station_hours_in_shared_episodes": None,
        "network_alerts_per_1000_station_hours_outside_shared_episodes": None,
        "parking_counts_alerts_by_rule": None,
    }
    progress("no real multi-station network or garage-count series in ../shared/data: their figures are null")
    if not UCI.exists():
        progress(f"UCI data not found at {UCI}: skipping it (its figures are null)")
        return out | {"uci_alerts_by_rule": None}
    with private_servers("bench-realdata", durable=False) as servers:
        url = servers.pg.create_database("realdata")
        migrate_all(url)
        out |= _uci(url, servers.workdir)
    out["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return out
