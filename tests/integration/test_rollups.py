"""The hourly air-quality rollup follows what ingest writes, late data included, on both editions:
ingest marks the hours it touches in the same transaction; the refresh brings exactly those up to date
(recomputes them in the Apache edition's table, materialises them in the licensed edition's continuous
aggregate). The API's long charts, read from it, show the same figures as the raw readings, the current
hour included (the continuous aggregate answers it in real time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from citywatch.contracts import messages as m
from citywatch.contracts.topics import DeviceKind, topic_for
from citywatch.db import rollups
from simulators.publisher import Publisher
from tests.support import SECRET, Api, Platform, wait_for


def _send(p: Platform, readings: list[tuple[datetime, int, float]]) -> None:
    pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
    pub.open([])
    for t, seq, pm25 in readings:
        r = m.AirQualityReading(device_id="aq-001", ts=t, seq=seq, pm25=pm25, pm10=2 * pm25)
        pub.send_raw(topic_for(DeviceKind.AIR_QUALITY, "aq-001"), m.to_json(r))
    assert pub.flush(10)
    pub.close()


def _rollup(p: Platform) -> dict[datetime, tuple[float, int]]:
    return {
        b: (v, n)
        for b, v, n in p.query("SELECT bucket, pm25, samples FROM air_quality_1h WHERE device_id = 'aq-001'")
    }  # type: ignore[misc]


def test_rollup_follows_ingest_including_late_readings(platform: Platform, run_ingest) -> None:  # type: ignore[no-untyped-def]
    p = platform
    h0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    with run_ingest(p.settings()):
        _send(p, [(h0 + timedelta(minutes=10 * i), i, float(10 + i)) for i in range(18)])  # three hours
        assert wait_for(lambda: p.count("SELECT count(*) FROM air_quality") == 18, 20)
        assert p.count("SELECT count(*) FROM rollup_invalidations") == 3
        assert rollups.refresh_all(p.db_url) == 3
        got = _rollup(p)
        assert got == {h0 + timedelta(hours=k): (float(10 + 6 * k + 2.5), 6) for k in range(3)}
        assert p.count("SELECT count(*) FROM rollup_invalidations") == 0
        # a reading for the first hour arrives hours late (a gateway that was offline)
        _send(p, [(h0 + timedelta(minutes=59), 100, 88.0)])
        assert wait_for(lambda: p.count("SELECT count(*) FROM air_quality") == 19, 20)
        assert [b for (b,) in p.query("SELECT bucket FROM rollup_invalidations")] == [h0]
        with psycopg.connect(p.db_url, autocommit=True) as conn:
            assert rollups.refresh(conn) == 1
        got = _rollup(p)
        assert got[h0] == (float((sum(range(10, 16)) + 88.0) / 7), 7)
        assert got[h0 + timedelta(hours=1)] == (float(10 + 6 + 2.5), 6)  # untouched hours stay
        # a redelivered duplicate changes nothing
        _send(p, [(h0 + timedelta(minutes=59), 100, 88.0)])
        assert wait_for(lambda: p.count("SELECT sum(duplicates) FROM ingest_counters") == 1, 20)
        rollups.refresh_all(p.db_url)
        assert _rollup(p)[h0] == got[h0]


def test_long_charts_show_the_raw_figures_up_to_the_current_hour_on_either_edition(
    api: Api, run_ingest
) -> None:  # type: ignore[no-untyped-def]
    p = api.platform
    now = datetime.now(UTC)
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    h0 = this_hour - timedelta(hours=3)
    readings = [
        (h0 + timedelta(minutes=15 * i), i, float(10 + 3 * i)) for i in range(12)
    ]  # three whole hours
    readings.append((this_hour + (now - this_hour) / 2, 12, 99.0))  # and the hour that is still going on
    with run_ingest(p.settings()):
        _send(p, readings)
        assert wait_for(lambda: p.count("SELECT count(*) FROM air_quality") == len(readings), 20)
    rollups.refresh_all(p.db_url)  # what the analytics step does (nothing to do on the licensed edition)
    raw = {
        t: v
        for t, v in p.query(
            "SELECT time_bucket('1 hour', time), avg(pm25) FROM air_quality WHERE device_id = 'aq-001'"
            " GROUP BY 1 ORDER BY 1"
        )
    }
    assert list(raw) == [h0 + timedelta(hours=k) for k in range(4)]
    with api.client("viewer") as c:
        r = c.get(
            "/api/v1/devices/aq-001/series",
            params={"metric": "pm25", "start": h0.isoformat(), "end": (this_hour + timedelta(hours=1)).isoformat(),
                    "max_points": 4},
        )  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "rollup_1h" and body["bucket_s"] == 3600
    got = {datetime.fromisoformat(pt["t"]): pt["v"] for pt in body["points"]}
    assert got == pytest.approx(raw)
    assert got[this_hour] == pytest.approx(99.0)
