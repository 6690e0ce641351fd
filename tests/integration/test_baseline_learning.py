"""A station's learned baseline does not learn from hours under a live fault of its own sensor: a day of
an analyser stuck at 80 µg/m³ does not become what is usual for it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg

from analytics.airquality.baseline import TRAIN_WINDOW
from analytics.service import AnalyticsService
from citywatch.db.schema import migrate_all
from citywatch.settings import DatabaseSettings, Settings
from tests.support import hourly_stations

START = datetime(2026, 4, 6, tzinfo=UTC)
STUCK_FROM, STUCK_H = 14 * 24, 24
AFTER_H = 96  # hours after the fault: the mix model learns again (a quarter of its window new) meanwhile


def test_a_stuck_analysers_hours_are_not_learned_as_its_normal(pg) -> None:  # type: ignore[no-untyped-def]
    url = pg.create_database("baseline_learning")
    migrate_all(url)
    r = random.Random(4)
    rows = []
    for i, dev in enumerate(("a", "b", "c")):
        for h in range(STUCK_FROM + STUCK_H + AFTER_H):
            t = START + timedelta(hours=h)
            pm25, pm10 = 18 + 4 * i + r.gauss(0, 3), 30 + 6 * i + r.gauss(0, 5)
            if dev == "a" and STUCK_FROM <= h < STUCK_FROM + STUCK_H:
                pm25, pm10 = 80.0, 120.0  # the whole instrument frozen
            rows.append((t, dev, h, round(pm10, 1), round(pm25, 1), 0.03, 0.02, 0.4, 0.003))
    hourly_stations(url, rows)
    service = AnalyticsService(Settings(db=DatabaseSettings(url=url)))
    service.evaluate_range(
        START - timedelta(minutes=1), START + timedelta(hours=STUCK_FROM + STUCK_H + AFTER_H)
    )
    with psycopg.connect(url) as conn:
        stuck = conn.execute("SELECT state FROM alerts WHERE key = 'aq.stuck:a'").fetchone()
    assert stuck == ("resolved",)  # found, and over once the analyser moved again
    learned = [v for slot in service.air.baselines["a"].slots.values() for v in slot]
    frozen = sum(1 for v in learned if v > 70)
    # the hours before the fault was found (it takes ten identical readings) are learned; none after
    assert 0 < frozen <= 10, frozen
    assert len(learned) >= STUCK_FROM  # the rest of its history was learned
    # nor does the pollutant-mix model learn them: its last training window held the stuck day, and it
    # learned from every hour of that window but the ones under a live fault of the station (the drift its
    # frozen ratio to its peers raised first, 4 h in, and the stuck analyser)
    model = service.air.models["a"]
    assert model.trained_at is not None and model.trained_at > START + timedelta(hours=STUCK_FROM + STUCK_H)
    with psycopg.connect(url) as conn:
        hours = [
            h
            for (h,) in conn.execute(
                "SELECT hour FROM aq_hourly WHERE device_id = 'a' AND hour > %s AND hour < %s",
                (model.trained_at - TRAIN_WINDOW, model.trained_at),
            )
        ]
    spans = service.air.fault_spans["a"]
    faulty = {
        h for h in hours if any(a < h and (b is None or b > h - timedelta(hours=1)) for a, b, _ in spans)
    }
    stuck_day = {START + timedelta(hours=STUCK_FROM + k + 1) for k in range(STUCK_H)}
    assert len(hours) - model.trained_rows == len(faulty) > 0
    assert len(faulty & stuck_day) >= STUCK_H - 10  # the stuck day but the hours before it was found
