"""A step that fails part-way (the database connection lost) is replayed from the state saved last: the
alert tables end exactly as a run without the failure leaves them, nothing lost, nothing doubled."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from analytics.service import AnalyticsService
from citywatch.db.schema import migrate_all
from citywatch.settings import DatabaseSettings, Settings
from tests.support import hourly_stations

START = datetime(2026, 11, 2, tzinfo=UTC)
HOURS = 6 * 24
HAZE = range(80, 110)  # hours of the last days: a PM2.5 advisory, raised to a warning and lifted


def _city(pg: Any, name: str) -> str:
    url: str = pg.create_database(name)
    migrate_all(url)
    r = random.Random(5)
    rows = []
    for i, dev in enumerate(("a", "b", "c")):
        for h in range(HOURS):
            t = START + timedelta(hours=h)
            pm25 = 18 + 4 * i + r.gauss(0, 3) + (140 + 3 * (h - HAZE.start) if h in HAZE else 0)
            rows.append((t, dev, h, round(pm25 * 1.5, 1), round(pm25, 1), 0.03, 0.02, 0.4, 0.003))
    hourly_stations(url, rows)
    return url


def _alerts(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        alerts = conn.execute(
            "SELECT key, opened_at, last_seen, state, severity, title, count, peak FROM alerts ORDER BY key, opened_at"
        ).fetchall()
        audit = conn.execute(
            "SELECT a.key, u.at, u.action FROM alert_audit u JOIN alerts a ON a.id = u.alert_id ORDER BY 1, 2, 3"
        ).fetchall()
        outbox = conn.execute(
            "SELECT a.key, o.what FROM alert_outbox o JOIN alerts a ON a.id = o.alert_id ORDER BY 1, 2"
        ).fetchall()
    return alerts, audit, outbox


def test_a_step_that_fails_part_way_is_replayed_to_the_same_alerts(pg) -> None:  # type: ignore[no-untyped-def]
    end = START + timedelta(hours=HOURS)
    clean = _city(pg, "recovery_clean")
    AnalyticsService(Settings(db=DatabaseSettings(url=clean))).step(end + timedelta(minutes=10), health=False)
    expected = _alerts(clean)
    assert any(k.startswith("aq.advisory.pm25:zone:z") for k, *_ in expected[0])  # the haze was found

    url = _city(pg, "recovery_failed")
    service = AnalyticsService(Settings(db=DatabaseSettings(url=url)))
    evaluate, calls = service.air.evaluate, []

    def fails_after_the_second_slice(start: datetime, safe: datetime, now: datetime) -> int:
        n = evaluate(start, safe, now)  # its events applied, the state not yet saved
        calls.append(safe)
        if len(calls) == 2:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return n

    service.air.evaluate = fails_after_the_second_slice  # type: ignore[method-assign]
    with pytest.raises(psycopg.OperationalError):
        service.step(end + timedelta(minutes=10), health=False)
    assert calls[1] > START + timedelta(hours=HAZE.stop)  # the haze was in the slice that failed
    service.reconnect()  # what the service's loop does after a failed step
    service.step(end + timedelta(minutes=10), health=False)
    assert len(calls) > 2  # the slice was evaluated again
    assert _alerts(url) == expected
