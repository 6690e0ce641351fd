"""Advisories on validated data, end to end: three days of a four-station zone's hourly readings, as a
real reference network reports them, written to the table the analytics read and re-evaluated.

- one hour of one station's ozone at 0.55 ppm, thirteen times its neighbours (a lone, implausible value);
- one station's CO analyser at its 50 ppm full scale for six hours;
- a PM2.5 episode the whole zone shares: 경보 for two hours, then 주의보, then lifted.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from analytics.service import AnalyticsService
from citywatch.db.schema import migrate_all
from citywatch.settings import DatabaseSettings, Settings

START = datetime(2026, 5, 1, tzinfo=UTC)
HOURS = 72
STATIONS = ("a", "b", "c", "d")
OZONE_GLITCH = ("d", 50)
CO_FULL_SCALE = ("c", range(30, 36))
EPISODE = {55: 160.0, 56: 175.0, 57: 210.0, 58: 120.0, 59: 70.0, 60: 50.0}  # zone-wide PM2.5, µg/m³


def _rows() -> list[tuple[Any, ...]]:
    r = random.Random(11)
    rows = []
    for i, dev in enumerate(STATIONS):
        for h in range(HOURS):
            t = START + timedelta(hours=h)
            local = (t.hour + 9) % 24
            o3 = 0.02 + 0.03 * max(0.0, 1 - abs(local - 15) / 6) + r.gauss(0, 0.002)
            pm25 = EPISODE.get(h, 22.0) * (1 + 0.03 * i) + r.gauss(0, 2)
            co = 0.4 + r.gauss(0, 0.03)
            if (dev, h) == OZONE_GLITCH:
                o3 = 0.55
            if dev == CO_FULL_SCALE[0] and h in CO_FULL_SCALE[1]:
                co = 50.0
            rows.append((t, dev, h, pm25 * 1.5, pm25, o3, 0.02, co, 0.003, t))
    return rows


@pytest.fixture(scope="module")
def evaluated(pg) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Every alert of the run by key, with its audit trail."""
    url = pg.create_database("validated_advisories")
    migrate_all(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO zones VALUES ('z', 'Zone') ON CONFLICT DO NOTHING")
        for dev in STATIONS:
            conn.execute(
                "INSERT INTO devices (device_id, kind, name, zone_id, expected_interval_s)"
                " VALUES (%s, 'aq', %s, 'z', 3600)",
                (dev, dev),
            )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO air_quality (time, device_id, seq, pm10, pm25, o3, no2, co, so2, received_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                _rows(),
            )
    AnalyticsService(Settings(db=DatabaseSettings(url=url))).evaluate_range(
        START - timedelta(minutes=1), START + timedelta(hours=HOURS)
    )
    with psycopg.connect(url) as conn:
        alerts = {
            key: {"state": st, "severity": sev, "title": title, "peak": peak, "explanation": e, "audit": []}
            for key, st, sev, title, peak, e in conn.execute(
                "SELECT key, state, severity, title, peak, explanation FROM alerts"
            )
        }
        for key, action, detail in conn.execute(
            "SELECT a.key, u.action, u.detail FROM alert_audit u JOIN alerts a ON a.id = u.alert_id ORDER BY u.id"
        ):
            alerts[key]["audit"].append((action, detail))
    return alerts


def test_a_lone_implausible_ozone_value_issues_no_zone_advisory(evaluated: dict[str, dict[str, Any]]) -> None:
    assert "aq.advisory.o3:zone:z" not in evaluated, evaluated.keys()


def test_the_station_itself_holds_it_as_an_unconfirmed_warning_with_the_reason(
    evaluated: dict[str, dict[str, Any]],
) -> None:
    a = evaluated["aq.advisory.o3:d"]
    assert a["severity"] == 2 and "unconfirmed (미확인)" in a["title"] and "중대경보" in a["title"], a
    assert "zone peers' median" in a["explanation"]["details"]["unconfirmed"]
    assert a["state"] == "resolved"  # lifted in the next hour, never confirmed
    assert [x for x, _ in a["audit"]] == ["opened", "auto_resolved"]


def test_an_analyser_at_full_scale_for_hours_is_stuck_there_and_excused_by_nothing(
    evaluated: dict[str, dict[str, Any]],
) -> None:
    s = evaluated["aq.saturation:c"]
    assert s["title"].startswith("Analyser stuck at full scale (co)") and s["state"] == "resolved", s
    assert s["explanation"]["details"]["hours"] == len(CO_FULL_SCALE[1])
    # no "shared air" zone alert for those hours: a station at its ceiling is not part of the zone's mix
    assert not any(k.startswith("aq.multivariate:zone:") for k in evaluated), evaluated.keys()


def test_a_shared_episode_is_the_zones_advisory_lowered_then_lifted_with_its_true_peak(
    evaluated: dict[str, dict[str, Any]],
) -> None:
    z = evaluated["aq.advisory.pm25:zone:z"]
    assert z["state"] == "resolved"
    # lowered to 주의보 before it was lifted: the alert reads as the level it ended at
    assert "advisory (주의보)" in z["title"] and z["severity"] == 2, z
    actions = [x for x, _ in z["audit"]]
    assert actions == ["opened", "level_changed", "auto_resolved"], z["audit"]
    assert "경보" in z["audit"][1][1] and "주의보" in z["audit"][1][1]
    # the median of the four stations in the worst hour (57), not the value it was issued at
    assert z["peak"] == pytest.approx(210 * 1.045, abs=5)
    assert set(z["explanation"]["details"]["readings"]) == set(STATIONS)


def test_an_operator_confirms_a_stations_unconfirmed_advisory_and_the_analytics_keep_it(pg) -> None:  # type: ignore[no-untyped-def]
    """Station d's ozone reads far above its peers two hours running (a fire beside it, say): issued
    unconfirmed; an operator who checked confirms it; the next, higher hour keeps it confirmed."""
    from alerts import store
    from alerts.model import Confirm

    url = pg.create_database("operator_confirms")
    migrate_all(url)
    rows = [r for r in _rows() if r[2] < 50]
    t50 = START + timedelta(hours=50)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO zones VALUES ('z', 'Zone') ON CONFLICT DO NOTHING")
        for dev in STATIONS:
            conn.execute(
                "INSERT INTO devices (device_id, kind, name, zone_id, expected_interval_s) VALUES (%s, 'aq', %s, 'z', 3600)",
                (dev, dev),
            )
        with conn.cursor() as cur:
            more = [
                (t50, dev, 50, 30.0, 20.0, 0.55 if dev == "d" else 0.04, 0.02, 0.4, 0.003, t50)
                for dev in STATIONS
            ]
            cur.executemany(
                "INSERT INTO air_quality (time, device_id, seq, pm10, pm25, o3, no2, co, so2, received_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                rows + more,
            )
    service = AnalyticsService(Settings(db=DatabaseSettings(url=url)))
    service.evaluate_range(START - timedelta(minutes=1), t50 + timedelta(hours=1))

    def alert() -> tuple[int, int, str]:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT id, severity, title FROM alerts WHERE key = 'aq.advisory.o3:d'"
            ).fetchone()
        assert row is not None
        return row[0], row[1], row[2]

    alert_id, severity, title = alert()
    assert severity == 2 and "unconfirmed" in title
    with psycopg.connect(url, autocommit=True) as conn:
        store.apply(
            conn, Confirm("kim", "smoke seen beside the station"), datetime.now(UTC), alert_id=alert_id
        )
    assert alert()[1:] == (3, "Ozone (오존) grave warning (중대경보): d")
    t51 = t50 + timedelta(hours=1)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.cursor().executemany(
            "INSERT INTO air_quality (time, device_id, seq, pm10, pm25, o3, no2, co, so2, received_at)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            [
                (t51, dev, 51, 30.0, 20.0, 0.58 if dev == "d" else 0.04, 0.02, 0.4, 0.003, t51)
                for dev in STATIONS
            ],
        )
    service.evaluate_range(t51 - timedelta(minutes=1), t51 + timedelta(hours=1))
    assert alert()[1:] == (3, "Ozone (오존) grave warning (중대경보): d")  # the new high did not undo it
    with psycopg.connect(url) as conn:
        actions = [a for (a,) in conn.execute(
            "SELECT action FROM alert_audit WHERE alert_id = %s ORDER BY id", (alert_id,)
        )]  # fmt: skip
        peak = conn.execute("SELECT peak FROM alerts WHERE id = %s", (alert_id,)).fetchone()
    assert actions == ["opened", "confirmed"] and peak == (pytest.approx(0.58),)
