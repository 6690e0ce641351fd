"""``citywatch bench realdata``: what the analytics raise on real data that nobody here wrote.

Real public series go through the real path a city's history would take — the device registered, its
past readings imported from CSV through ingest's validation and dead letters (:mod:`tools.history`),
then re-evaluated by the analytics service — and the alerts are counted:

* the **UCI roadside series** (``../shared/data/uci_air_quality``: a year of hourly CO and NO2 of a
  reference analyser in an Italian city, with its real outages; the analyser's units converted to ppm as
  :mod:`simulators.uci` does), as one station, in the city's own time zone (Europe/Rome);
* a **real multi-station network**: the Beijing Multi-Site Air-Quality data (Zhang et al., 2017; UCI
  Machine Learning Repository dataset 501, CC BY 4.0): twelve national stations' hourly PM2.5, PM10,
  SO2, NO2, CO and O3, 2013-03 to 2017-02, with their real gaps, as the twelve ``PRSA_Data_*.csv`` files
  in the directory ``CITYWATCH_BENCH_NETWORK`` names (outside the repository; without it the network's
  figures are ``null``). Three zones of four stations (the old city, the north-west, the northern
  suburbs), the gases converted from µg/m³ to ppm at 25 °C, each station registered with the one range
  its data show: the loggers' CO ceiling of 10 mg/m³. A **shared episode** is an hour in which the
  median of a zone's stations is at AirKorea's 매우나쁨 (PM2.5 above 75 µg/m³ or PM10 above 150);
  sensor-fault alerts (stuck, spike, drift, range, saturation, multivariate) are counted per 1,000
  station-hours inside and outside them, by the hour each alert opened;
* a **real garage-count series**: the German multi-storey garages' free-space counts archived by
  ``github.com/defgsus/parking-data`` (scraped from the operators' own websites since 2020-03; its author
  states no licence: it stays outside the repository), from the folder ``CITYWATCH_BENCH_GARAGES``
  names, as published: ``meta-data.csv`` (each place's ``num_all`` spaces) and
  ``csv/YYYY/YYYY-MM/YYYY-MM-DD.csv`` (a row per scrape, UTC, a column per place, an empty cell "no change
  since the row before, or not recorded"). One city's garages with a known capacity, each as a
  barrier-gate counter reporting every 15 minutes the count its operator last published (occupied =
  capacity − free); where the scraper recorded nothing for an hour the counters report nothing. Besides
  the alerts, the lots whose published counts leave their range (below zero or above the capacity, by
  more than a counter's slack) are counted from the data themselves, beside the lots
  ``parking.count_range`` names. Without
  the folder its figures are ``null``.

Printed: readings imported and dead-lettered, re-evaluation readings/s, alerts opened per rule, alerts
per 1,000 device-hours (inside and outside shared episodes: ``null`` with one station, where no episode
can be shared), and the alarm load per 10 minutes (ISA-18.2 / EEMUA 191, :mod:`alerts.load`).
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import statistics
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import psycopg

from alerts import queries
from alerts.load import alarm_load
from analytics.lot_counter import CounterConfig
from analytics.service import AnalyticsService
from citywatch.contracts.topics import DEVICE_ID_RE, Stream
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

NETWORK_ENV = "CITYWATCH_BENCH_NETWORK"
NETWORK_TZ = "Asia/Shanghai"
NETWORK_ZONES = {
    "old-city": ("Dongsi", "Tiantan", "Guanyuan", "Wanshouxigong"),
    "north-west": ("Aotizhongxin", "Nongzhanguan", "Wanliu", "Gucheng"),
    "north": ("Changping", "Dingling", "Huairou", "Shunyi"),
}
COLUMNS = {"pm25": "PM2.5", "pm10": "PM10", "so2": "SO2", "no2": "NO2", "co": "CO", "o3": "O3"}
MOLAR_MASS = {"so2": 64.066, "no2": 46.006, "co": 28.01, "o3": 48.00}  # g/mol: µg/m³ -> ppm at 25 °C
CO_CEILING_UG = 10_000.0  # the network's loggers never record CO above 10 mg/m³
EPISODE = {"pm25": 75.0, "pm10": 150.0}  # a zone's median above these: AirKorea's 매우나쁨
GARAGES_ENV = "CITYWATCH_BENCH_GARAGES"
GARAGES_TZ = "Europe/Berlin"
GARAGE_EVERY = timedelta(minutes=15)  # each counter reports the count its operator last published
FEED_DOWN = timedelta(hours=1)  # no scrape at all for this long: the counters report nothing
SENSOR_FAULTS = ("aq.stuck", "aq.spike", "aq.drift", "aq.range", "aq.saturation", "aq.multivariate")


def _alarm_figures(prefix: str, load: dict[str, Any]) -> dict[str, Any]:
    """What reached the operators (``alerts.load.alarm_load``): annunciations, their rate and peak, and those
    of warning or worse, the ones ISA-18.2 counts as alarms (they ask an action)."""
    return {
        f"{prefix}_annunciations": load["annunciations"],
        f"{prefix}_alarm_per_10min": round(load["per_10min"], 4),
        f"{prefix}_alarm_peak_10min": load["peak_10min"]["annunciations"],
        f"{prefix}_warning_or_worse": load["warning_or_worse"],
        f"{prefix}_warning_or_worse_per_10min": round(load["warning_or_worse_per_10min"], 4),
    }


def _ppm(pollutant: str, ug_m3: float) -> float:
    return ug_m3 * 24.45 / (MOLAR_MASS[pollutant] * 1000)


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
        **_alarm_figures("uci", load),
        "uci_reevaluation_readings_per_s": round(n / took, 1),
    }


def _station_hours(path: Path, start: datetime, end: datetime) -> Iterator[tuple[datetime, dict[str, float]]]:
    """One station file's hours in [start, end): the values measured, in µg/m³ as published."""
    tz = ZoneInfo(NETWORK_TZ)
    with path.open(newline="") as f:
        for r in csv.DictReader(f):
            when = datetime(int(r["year"]), int(r["month"]), int(r["day"]), int(r["hour"]), tzinfo=tz)
            if not start <= when < end:
                continue
            values: dict[str, float] = {}
            for name, column in COLUMNS.items():
                with contextlib.suppress(ValueError):  # "NA": not measured that hour
                    values[name] = float(r[column])
            if values:
                yield when, values


def _episodes(hours: dict[str, dict[datetime, dict[str, float]]]) -> dict[str, set[datetime]]:
    """Per zone, the hours of a shared episode: the median of its stations at 매우나쁨."""
    out: dict[str, set[datetime]] = {}
    for zone, stations in NETWORK_ZONES.items():
        out[zone] = set()
        every = set().union(*(hours[s].keys() for s in stations))
        for when in every:
            for pollutant, limit in EPISODE.items():
                seen = [hours[s][when][pollutant] for s in stations if pollutant in hours[s].get(when, {})]
                if len(seen) >= 2 and statistics.median(seen) > limit:
                    out[zone].add(when)
                    break
    return out


def _network(url: str, workdir: Path, folder: Path, start: datetime, days: float) -> dict[str, Any]:
    settings = Settings(db=DatabaseSettings(url=url), timezone=NETWORK_TZ)
    end = start + timedelta(days=days)
    instruments = {"co": {"full_scale": round(_ppm("co", CO_CEILING_UG), 3)}}
    hours: dict[str, dict[datetime, dict[str, float]]] = {}
    zone_of: dict[str, str] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for zone, stations in NETWORK_ZONES.items():
            conn.execute("INSERT INTO zones (zone_id, name) VALUES (%s, %s)", (zone, zone))
            for station in stations:
                conn.execute(
                    "INSERT INTO devices (device_id, kind, name, zone_id, expected_interval_s, meta)"
                    " VALUES (%s, 'aq', %s, %s, 3600, %s)",
                    (station.lower(), station, zone, orjson.dumps({"instruments": instruments}).decode()),
                )
                zone_of[station.lower()] = zone
    store = Store(url, WORKER)
    imported: list[Any] = []
    try:
        for zone, stations in NETWORK_ZONES.items():
            for station in stations:
                (src,) = folder.glob(f"PRSA_Data_{station}_*.csv")
                hours[station] = dict(_station_hours(src, start, end))
                history = workdir / f"{station}.csv"
                with history.open("w", newline="") as f:
                    w = csv.writer(f)
                    w.writerow(["ts", *COLUMNS])
                    for when, v in sorted(hours[station].items()):
                        w.writerow([
                            when.isoformat(),
                            *(
                                "" if p not in v else v[p] if p in ("pm25", "pm10") else round(_ppm(p, v[p]), 4)
                                for p in COLUMNS
                            ),
                        ])  # fmt: skip
                progress(f"network: importing {len(hours[station])} hours of {station} ({zone})")
                imported.append(import_history(store, history, station.lower(), settings.tz))
    finally:
        store.close()
    first = min(i.first for i in imported if i.first is not None)
    last = max(i.last for i in imported if i.last is not None)
    service = AnalyticsService(settings)
    service.progress = lambda text, done: progress(f"  {100 * done:3.0f}% {text}")
    started = time.monotonic()
    n = service.evaluate_range(first - timedelta(minutes=1), last)
    took = time.monotonic() - started

    episodes = _episodes({s: hours[s] for s in hours})
    station_hours = Counter[bool]()
    for zone, stations in NETWORK_ZONES.items():
        for station in stations:
            for when in hours[station]:
                station_hours[when in episodes[zone]] += 1
    with psycopg.connect(url) as conn:
        by_rule: dict[str, int] = dict(
            conn.execute("SELECT rule, count(*) FROM alerts GROUP BY rule ORDER BY 2 DESC").fetchall()
        )
        faults = conn.execute(
            "SELECT rule, subject, opened_at, coalesce(resolved_at, %s) FROM alerts WHERE rule = ANY(%s)",
            (last, list(SENSOR_FAULTS)),
        ).fetchall()
        items, live = queries.annunciations(conn, first, last + timedelta(hours=1))
    load = alarm_load(items, first, last + timedelta(hours=1), live)
    fault_in: Counter[str] = Counter()
    fault_out: Counter[str] = Counter()
    open_h: dict[str, list[float]] = {}  # rule -> how long each station's fault alert stayed open
    for rule, subject, opened, ended in faults:
        station_zone = zone_of.get(subject)
        if station_zone is None:
            continue  # a zone's alert ("shared air"), not one station's sensor
        open_h.setdefault(rule, []).append((ended - opened).total_seconds() / 3600)
        hour = opened.astimezone(ZoneInfo(NETWORK_TZ)).replace(minute=0, second=0, microsecond=0)
        (fault_in if hour in episodes[station_zone] else fault_out)[rule] += 1

    def rate(count: int, of: int) -> float | None:
        return round(1000 * count / of, 2) if of else None

    inside = rate(sum(fault_in.values()), station_hours[True])
    outside = rate(sum(fault_out.values()), station_hours[False])
    progress(
        f"network: {sum(by_rule.values())} alerts; sensor faults {inside} per 1,000 station-hours in shared"
        f" episodes ({station_hours[True]} station-h), {outside} outside ({station_hours[False]} station-h);"
        f" {load['per_10min']:.3f} annunciations per 10 min; re-evaluated {n / took:.0f} readings/s"
    )
    for rule, count in by_rule.items():
        progress(
            f"  {rule}: {count} (sensor fault in/out of episodes: {fault_in[rule]}/{fault_out[rule]}"
            + (f"; median open {statistics.median(open_h[rule]):.1f} h)" if rule in open_h else ")")
        )
    return {
        "network_stations": len(zone_of),
        "network_from": start.isoformat(),
        "network_days": days,
        "network_written": sum(i.written for i in imported),
        "network_dead_lettered": sum(i.dead_lettered for i in imported),
        "network_alerts_by_rule": by_rule,
        "network_station_hours_in_shared_episodes": station_hours[True],
        "network_station_hours_outside_shared_episodes": station_hours[False],
        "network_sensor_faults_in_shared_episodes": dict(fault_in),
        "network_sensor_faults_outside_shared_episodes": dict(fault_out),
        "network_sensor_fault_median_open_hours": {
            rule: round(statistics.median(hours), 1) for rule, hours in sorted(open_h.items())
        },
        "network_alerts_per_1000_station_hours_in_shared_episodes": inside,
        "network_alerts_per_1000_station_hours_outside_shared_episodes": outside,
        **_alarm_figures("network", load),
        "network_reevaluation_readings_per_s": round(n / took, 1),
    }


@dataclass(frozen=True, slots=True)
class Garage:
    place: str  # the archive's place_id
    lot: str  # its lot's and counter's id here
    name: str
    capacity: int
    lat: float | None
    lon: float | None


def _lot_id(place: str) -> str:
    """The archive's place id as a lot and device id (ASCII letters, digits, ``_.-``; at most 64)."""
    ascii_ = unicodedata.normalize("NFKD", place).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", ascii_)[:64]


def _city_garages(folder: Path, city: str) -> list[Garage]:
    """The city's places with a known capacity (a count cannot be judged without one)."""

    def number(cell: str) -> float | None:
        try:
            return float(cell)
        except ValueError:
            return None

    out: list[Garage] = []
    with (folder / "meta-data.csv").open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            capacity = number(r["num_all"])
            if r["city_name"] == city and capacity is not None and capacity > 0:
                lot = _lot_id(r["place_id"])
                if DEVICE_ID_RE.match(lot):
                    out.append(
                        Garage(r["place_id"], lot, r["place_name"], int(capacity),
                               number(r["latitude"]), number(r["longitude"]))
                    )  # fmt: skip
    return out


def _garage_reports(
    folder: Path, places: set[str], start: datetime, end: datetime
) -> Iterator[tuple[datetime, dict[str, int]]]:
    """Every ``GARAGE_EVERY`` in [start, end): each place's free spaces as its operator last published
    them (the places seen so far), while the scraper was running (a scrape within ``FEED_DOWN``)."""
    free: dict[str, int] = {}
    scraped: datetime | None = None
    tick = start

    def ticks_before(when: datetime) -> Iterator[tuple[datetime, dict[str, int]]]:
        nonlocal tick
        while tick < when:
            if scraped is not None and tick - scraped < FEED_DOWN and free:
                yield tick, dict(free)
            tick += GARAGE_EVERY

    day = start.astimezone(UTC).date()
    while day <= end.astimezone(UTC).date():
        path = folder / "csv" / f"{day:%Y}" / f"{day:%Y-%m}" / f"{day:%Y-%m-%d}.csv"
        day += timedelta(days=1)
        if not path.exists():
            continue  # the archive has no such day: nothing was scraped
        with path.open(newline="", encoding="utf-8") as f:
            rows = csv.reader(f)
            columns = [(i, place) for i, place in enumerate(next(rows, [])) if place in places]
            for row in rows:
                when = datetime.fromisoformat(row[0])
                yield from ticks_before(min(when, end))
                if when >= end:
                    return
                scraped = when
                for i, place in columns:
                    if i < len(row) and row[i]:
                        with contextlib.suppress(ValueError):
                            free[place] = int(float(row[i]))
    yield from ticks_before(end)


def _garage_city(
    url: str, workdir: Path, folder: Path, city: str, start: datetime, days: float
) -> dict[str, Any]:
    settings = Settings(db=DatabaseSettings(url=url), timezone=GARAGES_TZ)
    end = start + timedelta(days=days)
    garages = _city_garages(folder, city)
    if not garages:
        progress(f"garages: no place of {city} with a known capacity in {folder / 'meta-data.csv'}")
        return {"garages_lots": 0}
    known = [(g.lat, g.lon) for g in garages if g.lat is not None and g.lon is not None]
    centre = (
        (statistics.fmean(a for a, _ in known), statistics.fmean(b for _, b in known))
        if known
        else (0.0, 0.0)
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO zones (zone_id, name) VALUES ('city', %s)", (city,))
        for g in garages:
            conn.execute(
                "INSERT INTO parking_lots (lot_id, name, capacity, lat, lon, zone_id) VALUES (%s, %s, %s, %s, %s, 'city')",
                (g.lot, g.name, g.capacity, g.lat if g.lat is not None else centre[0],
                 g.lon if g.lon is not None else centre[1]),
            )  # fmt: skip
            conn.execute(
                "INSERT INTO devices (device_id, kind, name, lot_id, zone_id, expected_interval_s)"
                " VALUES (%s, 'parking', %s, %s, 'city', %s)",
                (g.lot, f"{g.name} counter", g.lot, GARAGE_EVERY.total_seconds()),
            )
    by_place = {g.place: g for g in garages}
    counter = CounterConfig()
    out_of_range: set[str] = set()  # lots whose published counts leave the range, by the data themselves
    files: dict[str, Path] = {}
    with contextlib.ExitStack() as stack:
        writers = {}
        for g in garages:
            files[g.lot] = workdir / f"garage-{g.lot}.csv"
            writers[g.place] = csv.writer(stack.enter_context(files[g.lot].open("w", newline="")))
            writers[g.place].writerow(["ts", "lot_id", "occupied", "capacity"])
        every = GARAGE_EVERY.total_seconds() / 60
        progress(
            f"garages: {len(garages)} of {city}'s, every {every:.0f} min, {start:%Y-%m-%d} + {days:g} days"
        )
        for when, free in _garage_reports(folder, set(by_place), start, end):
            for place, n in free.items():
                g = by_place[place]
                occupied = g.capacity - n
                if not counter.in_range(occupied, g.capacity):
                    out_of_range.add(g.lot)
                writers[place].writerow([when.isoformat(), g.lot, occupied, g.capacity])
    store = Store(url, WORKER)
    imported: list[Any] = []
    try:
        for g in garages:
            imported.append(import_history(store, files[g.lot], g.lot, settings.tz, Stream.COUNT))
        progress(f"garages: imported {sum(i.written for i in imported)} counts")
    finally:
        store.close()
    spans = [(i.first, i.last) for i in imported if i.first is not None and i.last is not None]
    if not spans:
        progress(f"garages: nothing of {city}'s scraped in {start:%Y-%m-%d} + {days:g} days")
        return {"garages_lots": len(garages), "garages_written": 0}
    first, last = min(a for a, _ in spans), max(b for _, b in spans)
    service = AnalyticsService(settings)
    service.progress = lambda text, done: progress(f"  {100 * done:3.0f}% {text}")
    started = time.monotonic()
    service.evaluate_range(first - timedelta(minutes=1), last)
    took = time.monotonic() - started
    written = sum(i.written for i in imported)
    with psycopg.connect(url) as conn:
        by_rule: dict[str, int] = dict(
            conn.execute("SELECT rule, count(*) FROM alerts GROUP BY rule ORDER BY 2 DESC").fetchall()
        )
        named = {
            s
            for (s,) in conn.execute("SELECT DISTINCT subject FROM alerts WHERE rule = 'parking.count_range'")
        }
        items, live = queries.annunciations(conn, first, last + timedelta(hours=1))
    load = alarm_load(items, first, last + timedelta(hours=1), live)
    lot_hours = written * GARAGE_EVERY.total_seconds() / 3600
    alerts = sum(by_rule.values())
    progress(
        f"garages: {alerts} alerts in {lot_hours:.0f} lot-hours ({1000 * alerts / lot_hours:.1f} per 1,000);"
        f" {len(out_of_range)} lots' published counts leave their range, parking.count_range names"
        f" {len(named & out_of_range)} of them and {len(named - out_of_range)} other;"
        f" {load['per_10min']:.3f} annunciations per 10 min ({load['warning_or_worse']} of"
        f" {load['annunciations']} warning or worse); re-evaluated {written / took:.0f} counts/s"
    )
    for rule, count in by_rule.items():
        progress(f"  {rule}: {count}")
    return {
        "garages_city": city,
        "garages_lots": len(garages),
        "garages_from": start.isoformat(),
        "garages_days": days,
        "garages_written": written,
        "garages_dead_lettered": sum(i.dead_lettered for i in imported),
        "garages_alerts_by_rule": by_rule,
        "garages_alerts_per_1000_lot_hours": round(1000 * alerts / lot_hours, 2),
        "garages_lots_out_of_range_in_data": sorted(out_of_range),
        "garages_lots_out_of_range_named": len(named & out_of_range),
        "garages_lots_named_in_range": sorted(named - out_of_range),
        **_alarm_figures("garages", load),
        "garages_reevaluation_readings_per_s": round(written / took, 1),
    }


def run(
    network_from: datetime,
    network_days: float,
    uci: bool = True,
    garages_city: str = "Dresden",
    garages_from: datetime | None = None,  # 2021-10-01 in the garages' city
    garages_days: float = 30.0,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "network_alerts_per_1000_station_hours_in_shared_episodes": None,
        "network_alerts_per_1000_station_hours_outside_shared_episodes": None,
        "garages_alerts_by_rule": None,
    }
    garages = Path(os.environ[GARAGES_ENV]) if os.environ.get(GARAGES_ENV) else None
    if garages is None or not (garages / "meta-data.csv").exists():
        progress(
            f"no garage-count archive (set {GARAGES_ENV} to a copy of github.com/defgsus/parking-data):"
            " the garages' figures are null"
        )
        garages = None
    folder = Path(os.environ[NETWORK_ENV]) if os.environ.get(NETWORK_ENV) else None
    if folder is None or not any(folder.glob("PRSA_Data_*.csv")):
        progress(
            f"no Beijing multi-site files (set {NETWORK_ENV} to their folder): the network's figures are null"
        )
        folder = None
    if uci and not UCI.exists():
        progress(f"UCI data not found at {UCI}: skipping it (its figures are null)")
        out["uci_alerts_by_rule"] = None
        uci = False
    with private_servers("bench-realdata", durable=False) as servers:
        if uci:
            url = servers.pg.create_database("realdata")
            migrate_all(url)
            out |= _uci(url, servers.workdir)
        if folder is not None:
            url = servers.pg.create_database("network")
            migrate_all(url)
            out |= _network(url, servers.workdir, folder, network_from, network_days)
        if garages is not None:
            url = servers.pg.create_database("garages")
            migrate_all(url)
            since = garages_from or datetime(2021, 10, 1, tzinfo=ZoneInfo(GARAGES_TZ))
            out |= _garage_city(url, servers.workdir, garages, garages_city, since, garages_days)
    out["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return out
