"""Sequence numbers from a real device, through the broker and ingest: a counter that jumps once to
900001 and then restarts at 0 is one jump and one restart, not 899,999 lost messages."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson

from simulators.publisher import Publisher
from tests.support import SECRET, Platform, counters, wait_for


def test_a_corrupt_counter_then_a_restart_is_counted_as_such_not_as_loss(
    platform: Platform,
    run_ingest,  # type: ignore[no-untyped-def]
) -> None:
    seqs = [0, 1, 2, 3, 4, 5, 900001, 0, 1, 2, 4]  # and one message (3) really lost at the end
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=len(seqs) + 1)
    pub = Publisher(host="127.0.0.1", port=platform.broker.port, secret=SECRET, mode="gateway")
    pub.open([])
    with run_ingest(platform.settings()):
        for i, s in enumerate(seqs):
            ts = (start + timedelta(minutes=i)).isoformat()
            body = {"v": 1, "device_id": "aq-001", "ts": ts, "seq": s, "pm25": 12.0 + i}
            pub.send_raw("cw/v1/aq/aq-001/telemetry", orjson.dumps(body))
        assert pub.flush(30)
        assert wait_for(lambda: counters(platform)[0] >= len(seqs), 60), counters(platform)
        time.sleep(0.3)
    pub.close()
    row = platform.query(
        "SELECT received, gaps, resets, jumps, max_seq FROM device_streams WHERE device_id = 'aq-001'"
    )
    assert row == [(len(seqs), 1, 1, 1, 4)], row
