"""`citywatch bench realdata`'s network part on a small network in the published files' own format: every
row through import and re-evaluation, the shared episodes found from the zones' medians, and each
sensor-fault alert counted inside or outside one by the hour it opened."""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from citywatch.db.schema import migrate_all
from tools.bench.common import private_servers
from tools.bench.realdata import NETWORK_TZ, NETWORK_ZONES, _network

START = datetime(2016, 11, 1, tzinfo=ZoneInfo(NETWORK_TZ))
DAYS = 10
HAZE = (START + timedelta(days=7), START + timedelta(days=8))  # the old city's shared episode
HEADER = [
    "No",
    "year",
    "month",
    "day",
    "hour",
    "PM2.5",
    "PM10",
    "SO2",
    "NO2",
    "CO",
    "O3",
    "TEMP",
    "PRES",
    "DEWP",
    "RAIN",
    "wd",
    "WSPM",
    "station",
]


def _write(folder: Path) -> int:
    """Twelve stations' hours as the PRSA files publish them ("NA" where nothing was measured); in the
    haze one old-city station's CO analyser sits at the loggers' 10 mg/m³ ceiling. Returns the rows
    with something measured."""
    r, measured = random.Random(5), 0
    for zone, stations in NETWORK_ZONES.items():
        for station in stations:
            with (folder / f"PRSA_Data_{station}_20130301-20170228.csv").open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(HEADER)
                for h in range(DAYS * 24):
                    t = START + timedelta(hours=h)
                    haze = zone == "old-city" and HAZE[0] <= t < HAZE[1]
                    pm25 = (160 if haze else 30) * r.uniform(0.85, 1.15)
                    co = 10000 if haze and station == "Dongsi" else 800 * r.uniform(0.8, 1.2)
                    gap = h % 97 == 13  # the analysers down for an hour now and then
                    values = ["NA"] * 6 if gap else [round(pm25), round(pm25 * 1.6), 8, 40, round(co), 30]
                    measured += not gap
                    w.writerow(
                        [h + 1, t.year, t.month, t.day, t.hour, *values, 5, 1020, -5, 0, "N", 2, station]
                    )
    return measured


def test_the_network_part_counts_sensor_faults_inside_and_outside_shared_episodes(tmp_path: Path) -> None:
    folder = tmp_path / "network"
    folder.mkdir()
    measured = _write(folder)
    with private_servers("bench-realdata-test", durable=False) as servers:
        url = servers.pg.create_database("network")
        migrate_all(url)
        out = _network(url, servers.workdir, folder, START, DAYS)
    assert out["network_stations"] == 12 and out["network_written"] == measured, out
    assert out["network_dead_lettered"] == 0
    inside, outside = (
        out["network_station_hours_in_shared_episodes"],
        out["network_station_hours_outside_shared_episodes"],
    )
    assert inside + outside == measured
    assert inside == sum(1 for h in range(24) if (24 * 7 + h) % 97 != 13) * 4  # the old city's haze day
    # the CO ceiling is a sensor fault, opened in the haze: counted inside, at its rate
    faults_in = out["network_sensor_faults_in_shared_episodes"]
    assert faults_in.get("aq.saturation", 0) >= 1, out
    total_in = sum(faults_in.values())
    assert out["network_alerts_per_1000_station_hours_in_shared_episodes"] == round(
        1000 * total_in / inside, 2
    )
    total_out = sum(out["network_sensor_faults_outside_shared_episodes"].values())
    assert out["network_alerts_per_1000_station_hours_outside_shared_episodes"] == round(
        1000 * total_out / outside, 2
    )
    assert out["network_alerts_by_rule"].get("aq.advisory.pm25", 0) >= 1  # the haze is an advisory too
    assert out["network_reevaluation_readings_per_s"] > 0
