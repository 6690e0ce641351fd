"""`citywatch bench realdata`'s network part on a small network in the published files' own format: every
row through import and re-evaluation, the shared episodes found from the zones' medians, and each
sensor-fault alert counted inside or outside one by the hour it opened; and its garages part on a small
archive in the garage archive's own format: each counter's report every 15 minutes from the scrapes
(an empty cell "no change"), nothing while the scraper was down, and the lot whose published counts
leave their range named."""

from __future__ import annotations

import csv
import math
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from citywatch.db.schema import migrate_all
from tools.bench.common import private_servers
from tools.bench.realdata import GARAGES_TZ, NETWORK_TZ, NETWORK_ZONES, _garage_city, _network

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


GARAGES_START = datetime(2021, 10, 1, tzinfo=ZoneInfo(GARAGES_TZ))
META = [
    "place_id,place_name,city_name,num_all,address,latitude,longitude,place_url,source_id,source_web_url",
    'dresden-parken-Altmarkt,Altmarkt,Dresden,400,"Altmarkt\n01067\nDresden",51.0503,13.7371,,dresden-parken,',
    "dresden-parken-Semperoper,Semperoper,Dresden,100,,,,,dresden-parken,",
    "dresden-parken-Ohne-Zahl,Ohne Zahl,Dresden,,,,,,dresden-parken,",  # no capacity: not replayed
    "koeln-Dom,Dom,Köln,600,,50.94,6.96,,koeln,",  # another city's
]


def _write_garages(folder: Path) -> None:
    """Two days of a Dresden archive as it is published: a scrape every 5 min (UTC), each day's first row
    with every place's free spaces, later rows only what changed; the scraper down 12:00–14:00 UTC on the
    first day; one scrape of the Semperoper at 12,591 free of its 100."""
    (folder / "meta-data.csv").write_text("\n".join(META) + "\n", encoding="utf-8")
    places = ["dresden-parken-Altmarkt", "dresden-parken-Semperoper", "dresden-parken-Ohne-Zahl", "koeln-Dom"]
    t = datetime(2021, 9, 30, 20, tzinfo=UTC)
    last: dict[str, int] = {}
    while t < datetime(2021, 10, 3, tzinfo=UTC):
        day = folder / "csv" / f"{t:%Y}" / f"{t:%Y-%m}" / f"{t:%Y-%m-%d}.csv"
        new_day = not day.exists()
        if new_day:
            day.parent.mkdir(parents=True, exist_ok=True)
            day.write_text("timestamp," + ",".join(places) + "\n")
            last.clear()
        if not (t.date() == date(2021, 10, 1) and 12 <= t.hour < 14):
            minute = t.hour * 60 + t.minute
            free = {
                places[0]: 400 - int(300 * max(0.0, math.sin(math.pi * (minute - 360) / 840))) // 10 * 10,
                places[1]: 12591 if t == datetime(2021, 10, 2, 3, tzinfo=UTC) else 60 + (minute // 30) % 3,
                places[2]: 7,
                places[3]: 300,
            }
            cells = ["" if last.get(p) == free[p] else str(free[p]) for p in places]
            last |= free
            with day.open("a") as f:
                f.write(f"{t.isoformat()}," + ",".join(cells) + "\n")
        t += timedelta(minutes=5)


def test_the_garages_part_replays_a_citys_counts_and_names_the_lots_whose_counts_leave_their_range(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "parking-data"
    folder.mkdir()
    _write_garages(folder)
    with private_servers("bench-realdata-garages", durable=False) as servers:
        url = servers.pg.create_database("garages")
        migrate_all(url)
        out = _garage_city(url, servers.workdir, folder, "Dresden", GARAGES_START, 2)
    assert out["garages_lots"] == 2, out  # the place without a capacity and Köln's are not replayed
    # every 15 min for two days, but for the ticks an hour and more after the last scrape before the
    # scraper's gap (13:00, 13:15, 13:30, 13:45 UTC): 192 - 4 per lot, every one imported
    assert out["garages_written"] == 2 * (192 - 4) and out["garages_dead_lettered"] == 0, out
    assert out["garages_lots_out_of_range_in_data"] == ["dresden-parken-Semperoper"]
    assert out["garages_lots_out_of_range_named"] == 1 and out["garages_lots_named_in_range"] == []
    assert out["garages_alerts_by_rule"]["parking.count_range"] == 1
    assert out["garages_reevaluation_readings_per_s"] > 0
