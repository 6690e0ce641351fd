"""The hourly air-quality rollup (Apache edition) follows what ingest writes, late data included:
ingest marks the hours it touches in the same transaction; the refresh recomputes exactly those."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg

from citywatch.contracts import messages as m
from citywatch.contracts.topics import DeviceKind, topic_for
from citywatch.db import rollups
from simulators.publisher import Publisher
from tests.conftest import SECRET, Platform, wait_for


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
    with psycopg.connect(p.db_url, autocommit=True) as conn:
        assert rollups.is_table(conn)  # the Apache edition: citywatch keeps it
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
