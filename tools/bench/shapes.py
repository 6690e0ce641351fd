"""The ``aq.shape`` part of ``citywatch bench detect``: how often the unusual-pattern rule speaks, and
whether it catches what it is for.

1. Ground truth: ``stations`` synthetic roadside stations, six weeks of hourly PM2.5 each (morning and
   evening rush in KST, calmer weekends, sensor noise), every one with a broken rhythm in week six: for
   twelve hours the rush does not come and the value sits at a middle level, inside the usual range
   (no threshold rule can see it). Reported: breaks caught, the delay from the break's start to the
   alert, and the alerts on habitual hours per station-week.
2. The UCI roadside series (``../shared/data/uci_air_quality``, a year of hourly CO and NO2 from one
   Italian station, when present): alerts per pollutant, and the weeks between two of them.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alerts.model import Raise
from analytics.shapes import ShapeConfig, ShapeWatch
from simulators.uci import CO_MG_TO_PPM, NO2_UG_TO_PPM, read
from tools.bench.common import progress

UCI = Path(__file__).resolve().parents[3] / "shared" / "data" / "uci_air_quality" / "AirQualityUCI.csv"
T0 = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
BREAK = range(24 * 35 + 3, 24 * 35 + 15)  # twelve hours of week six


def habitual(t: datetime, r: random.Random) -> float:
    """A roadside station's hourly PM2.5: morning and evening rush (KST), calmer weekends, sensor noise."""
    local = t + timedelta(hours=9)
    rush = 25 if local.hour in (8, 9, 18, 19) else 8 if local.hour in (7, 10, 17, 20) else 0
    return 15 + rush * (0.5 if local.weekday() >= 5 else 1) + r.gauss(0, 1.5)


def station_hours(seed: int, hours: int, broken: bool) -> Iterator[tuple[int, datetime, float]]:
    """(hour index, hour, PM2.5) of one synthetic station; ``broken``: with the twelve-hour break."""
    r = random.Random(seed)
    for i in range(hours):
        t = T0 + timedelta(hours=i)
        x = habitual(t, r)
        if broken and i in BREAK:
            x = 28 + r.gauss(0, 1.5)  # the rush does not come: a flat middle value, inside the usual range
        yield i, t, x


def ground_truth(stations: int = 20) -> dict[str, Any]:
    caught, delays, false_alerts = 0, [], 0
    hours = 24 * 42
    for seed in range(1, stations + 1):
        w = ShapeWatch(ShapeConfig(pollutants=("pm25",)))
        raised = [
            i
            for i, t, x in station_hours(seed, hours, broken=True)
            for _key, e in w.on_hour(f"aq-{seed}", t, {"pm25": x})
            if isinstance(e, Raise)
        ]
        hits = [i for i in raised if i in BREAK]
        if hits:
            caught += 1
            delays.append(hits[0] - BREAK[0])
        false_alerts += len(raised) - len(hits)
    weeks = stations * (hours - ShapeConfig().warmup_h - len(BREAK)) / (24 * 7)
    progress(
        f"aq.shape ground truth: {caught}/{stations} broken rhythms caught, {false_alerts} alerts in "
        f"{weeks:.0f} habitual station-weeks"
    )
    return {
        "shape_breaks_caught": caught,
        "shape_breaks": stations,
        "shape_delay_h_median": statistics.median(delays) if delays else None,
        "shape_false_alerts_per_station_week": round(false_alerts / weeks, 3),
    }


def uci(path: Path = UCI) -> dict[str, Any]:
    w = ShapeWatch(ShapeConfig(pollutants=("co", "no2")))
    alerts = {"co": 0, "no2": 0}
    hours = {"co": 0, "no2": 0}
    for when, v in read(path):
        co, no2 = v["CO(GT)"], v["NO2(GT)"]
        values = {
            "co": co * CO_MG_TO_PPM if co is not None else None,
            "no2": no2 * NO2_UG_TO_PPM if no2 is not None else None,
        }
        for p, x in values.items():
            hours[p] += x is not None
        for key, e in w.on_hour("aq-uci", when.replace(tzinfo=UTC), values):
            if isinstance(e, Raise):
                alerts[key.split(":")[0].removeprefix("aq.shape.")] += 1
    weeks = {p: round(hours[p] / alerts[p] / 168, 1) if alerts[p] else None for p in alerts}
    progress(
        f"aq.shape on the UCI roadside series: {alerts} alerts in {hours} hours; weeks per alert {weeks}"
    )
    return {"shape_uci_alerts": alerts, "shape_uci_hours": hours, "shape_uci_weeks_per_alert": weeks}


def run() -> dict[str, Any]:
    out = ground_truth()
    if UCI.exists():
        out.update(uci())
    else:
        progress(f"UCI data not found at {UCI}: skipping the aq.shape UCI part")
    return out
