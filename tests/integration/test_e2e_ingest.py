"""Simulators -> Mosquitto -> ingest -> TimescaleDB, every device kind, with bad
input mixed in: every message is a row, a dead letter or a counted duplicate."""

from __future__ import annotations

import time

from citywatch.contracts.topics import DeviceKind
from simulators.engine import plan_faults, simulate
from simulators.publisher import Publisher
from tests.support import ALL_TABLES, SECRET, Platform, counters, wait_for


def test_every_message_is_accounted_for(platform: Platform, run_ingest) -> None:  # type: ignore[no-untyped-def]
    city = platform.city
    end = time.time() - 60
    start = end - 3600
    faults = plan_faults(city, 7, start, end, 1, ("malformed", "duplicate", "dropout", "offline"))
    pub = Publisher(host="127.0.0.1", port=platform.broker.port, secret=SECRET, mode="device")
    with run_ingest(platform.settings()):
        pub.open(city.devices, start)
        pub.run(simulate(city, start, end, seed=7, faults=faults), speed=float("inf"), progress_every=0)
        # input no real device could send, through the simulator account
        pub.send_raw(
            "cw/v1/aq/ghost-1/telemetry", b'{"v":1,"device_id":"ghost-1","ts":"2026-01-01T00:00:00Z","seq":1}'
        )
        pub.send_raw("cw/v1/aq/aq-001/nonsense", b"{}")
        pub.send_raw("cw/v1/parking/aq-001/state", b"{}")
        pub.send_raw(
            "cw/v1/aq/aq-001/telemetry", b'{"v":1,"device_id":"aq-002","ts":"2026-01-01T00:00:00Z","seq":1}'
        )
        pub.send_raw("cw/v1/aq/aq-001/telemetry", b"x" * 70000)
        pub.send_raw(
            "cw/v1/aq/aq-001/telemetry",
            b'{"v":1,"device_id":"aq-001","ts":"2099-01-01T00:00:00Z","seq":99999}',
        )
        pub.close(end)
        assert pub.flush(30)
        expected = sum(pub.sent.values()) + len(pub.wills)
        assert wait_for(lambda: counters(platform)[0] >= expected, 60), (counters(platform), expected)
        time.sleep(0.5)  # nothing more should arrive
    received, written, duplicates, dead = counters(platform)
    rows = platform.stored(ALL_TABLES)
    dl = int(platform.scalar("SELECT count(*) FROM dead_letters"))  # type: ignore[call-overload]
    assert received == expected
    assert rows == written
    assert dl == dead
    assert rows + dl + duplicates == expected
    assert duplicates == pub.sent["duplicate"]
    assert dl == pub.sent["malformed"] + pub.sent["raw"]
    assert len(pub.wills) == 1
    # every kind landed
    kinds = {
        k
        for (k,) in platform.query(
            "SELECT DISTINCT d.kind FROM device_streams s JOIN devices d USING (device_id)"
        )
    }
    assert kinds == {k.value for k in DeviceKind}
    reasons = dict(platform.query("SELECT reason, count(*) FROM dead_letters GROUP BY reason"))
    for r in (
        "unknown_device",
        "bad_topic",
        "wrong_kind",
        "device_mismatch",
        "oversize",
        "clock_future",
        "malformed_json",
        "non_finite",
        "invalid_payload",
    ):
        assert reasons.get(r, 0) >= 1, (r, reasons)
    # the dropout fault left a gap that is counted
    dropout = next(f for f in faults if f.kind == "dropout")
    gaps = platform.scalar(
        "SELECT coalesce(sum(gaps),0) FROM device_streams WHERE device_id = %s", dropout.device_id
    )
    assert int(gaps) > 0  # type: ignore[call-overload]
    # the device that went offline has its Last Will on record
    offline = next(f for f in faults if f.kind == "offline")
    statuses = [
        s
        for (s,) in platform.query(
            "SELECT status FROM device_status WHERE device_id = %s ORDER BY received_at", offline.device_id
        )
    ]
    assert statuses[:3] == ["online", "offline", "online"]
