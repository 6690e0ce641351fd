"""One definition of offline: the database's device_health(), which the analytics (device.offline),
the API (a device's state) and Grafana (devices online) all read. Checked here against the rule written
out independently, case by case, then the API and the analytics against the function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from analytics.service import AnalyticsService
from tests.support import Api, Platform

NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)

# device -> (interval_s, last message s ago, newest status and s ago, registry status,
#            expected state, expected down_since s ago); the offline limit is max(3 x interval, 300 s)
CASES = {
    "hd-fresh": (60, 100, None, "active", "online", None),
    "hd-silent": (60, 301, None, "active", "offline", 301),  # past 300 s: offline since its last message
    "hd-slow": (600, 1700, None, "active", "online", None),  # 3 x 600 s = 1800 s
    "hd-slow-gone": (600, 1900, None, "active", "offline", 1900),
    "hd-camera": (None, 10 * 86400, None, "active", "online", None),  # event-driven: its Last Will only
    "hd-camera-will": (None, 600, ("offline", 500), "active", "offline", 500),
    "hd-will-old": (60, 10, ("offline", 900), "active", "online", None),  # spoke after its Last Will
    "hd-back": (60, 400, ("online", 10), "active", "online", None),  # reconnected: alive from then
    "hd-will-only": (60, None, ("offline", 30), "active", "offline", 30),
    "hd-new": (60, None, None, "active", "never_seen", None),
    "hd-retired": (60, 50, None, "retired", "retired", None),
}


def _seed(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for dev, (interval, seen, status, registry, _state, _since) in CASES.items():
            conn.execute(
                "INSERT INTO devices (device_id, kind, name, expected_interval_s, status)"
                " VALUES (%s, 'cctv', %s, %s, %s)",
                (dev, dev, interval, registry),
            )
            if seen is not None:
                at = NOW - timedelta(seconds=seen)
                conn.execute(
                    "INSERT INTO device_streams (device_id, stream, last_seq, max_seq, last_time, last_received_at)"
                    " VALUES (%s, 'cctv', 1, 1, %s, %s)",
                    (dev, at, at),
                )
            if status is not None:
                at = NOW - timedelta(seconds=status[1])
                conn.execute(
                    "INSERT INTO device_status (time, device_id, status, received_at) VALUES (%s, %s, %s, %s)",
                    (at, dev, status[0], at),
                )


def _judged(url: str, *args: object) -> dict[str, tuple[str, datetime | None]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT device_id, state, down_since FROM device_health(%s"
            + ", %s" * len(args)
            + ") WHERE device_id LIKE 'hd-%%'",
            (NOW, *args),
        ).fetchall()
    return {dev: (state, since) for dev, state, since in rows}


def test_device_health_follows_the_rule_case_by_case(db_url: str) -> None:
    _seed(db_url)
    got = _judged(db_url)
    expected = {
        dev: (state, None if since is None else NOW - timedelta(seconds=since))
        for dev, (_i, _s, _st, _r, state, since) in CASES.items()
    }
    assert got == expected
    assert {s for s, _ in got.values()} == {"online", "offline", "never_seen", "retired"}  # every state met


def test_the_rule_takes_the_settings_the_analytics_run_with(db_url: str) -> None:
    """Without arguments, the factor and minimum the analytics service wrote; given ones win."""
    _seed(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO analytics_state (name, state) VALUES ('analytics:v1:health',"
            ' \'{"offline_factor": 10, "offline_min_s": 300}\')'
        )
    assert _judged(db_url)["hd-silent"][0] == "online"  # 10 x 60 s = 600 s
    assert _judged(db_url, 3.0, 300.0)["hd-silent"][0] == "offline"


@pytest.mark.parametrize("factor", [3.0, 10.0])
def test_the_analytics_and_the_api_read_the_same_judgement(
    platform: Platform, api: Api, factor: float
) -> None:
    """The analytics service publishes its offline settings; the API's states then match the function's
    under those settings, device by device."""
    settings = platform.settings()
    settings.analytics.offline_factor = factor
    AnalyticsService(settings).conn.close()  # starting is enough: it writes what it runs with
    with api.client("viewer") as c:
        shown = {d["device_id"]: d["state"] for d in c.get("/api/v1/devices").json()}
    with psycopg.connect(platform.db_url) as conn:
        judged = dict(
            conn.execute("SELECT device_id, state FROM device_health(now(), %s, 300)", (factor,)).fetchall()
        )
        published = conn.execute(
            "SELECT (state->>'offline_factor')::float8 FROM analytics_state WHERE name = 'analytics:v1:health'"
        ).fetchone()
    assert published == (factor,)
    assert shown == judged and len(shown) == len(platform.city.devices)
