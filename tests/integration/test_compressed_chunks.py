"""Nothing doubled in compressed chunks (Timescale License edition): readings weeks old live in compressed
chunks; a QoS 1 redelivery, a gateway replaying its buffer and a camera re-sending an event under a new
sequence number go through ingest's real path (direct COPY, its clash, the idempotent INSERT) and store
nothing twice, while late readings never seen before are stored, and the accounting stays exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from citywatch.contracts.topics import DeviceKind
from citywatch.db import features
from simulators.engine import simulate
from simulators.publisher import Publisher
from tests.support import SECRET, Platform, wait_for

pytestmark = pytest.mark.edition("tsl")
COMPRESSED = tuple(features.COMPRESS_AFTER)
_KEYS = {
    t: "device_id, time, seq" for t in ("air_quality", "parking_events", "bus_positions", "stop_requests")
}
_KEYS["cctv_events"] = "event_id, time"


def _counters(p: Platform) -> tuple[int, int, int, int]:
    row = p.query(
        "SELECT coalesce(sum(received),0), coalesce(sum(written),0), coalesce(sum(duplicates),0),"
        " coalesce(sum(dead_lettered),0) FROM ingest_counters"
    )[0]
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])  # type: ignore[call-overload]


def _send(p: Platform, messages: list[tuple[str, bytes]]) -> None:
    pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
    pub.open([])
    for topic, body in messages:
        pub.send_raw(topic, body)
    assert pub.flush(30)
    pub.close()


def test_redelivered_replayed_and_resent_readings_in_compressed_chunks_are_stored_once(
    platform: Platform,
    run_ingest,  # type: ignore[no-untyped-def]
) -> None:
    p = platform
    start = (datetime.now(UTC) - timedelta(days=20)).timestamp()  # past every compress_after
    outs = [o for o in simulate(p.city, start, start + 900, seed=3) if o.tag is None and o.payload]
    late = [o for o in simulate(p.city, start + 900, start + 1200, seed=3, first_seq=10_000)]
    late = [o for o in late if o.tag is None and o.payload]
    by_kind = {k: sum(o.kind is k for o in outs) for k in DeviceKind}
    assert by_kind[DeviceKind.AIR_QUALITY] and by_kind[DeviceKind.CCTV] and by_kind[DeviceKind.BUS]
    first = [(o.topic, o.payload) for o in outs]
    with run_ingest(p.settings()):
        _send(p, first)
        assert wait_for(lambda: _counters(p)[0] == len(first), 60)
        stored = p.stored()
        assert stored == len(first)

        # the test compresses, not the policies (which would race it)
        p.query(
            "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs"
            " WHERE proc_name = 'policy_compression'"
        )
        compressed = 0
        for table in COMPRESSED:
            compressed += p.count(f"SELECT count(compress_chunk(c, true)) FROM show_chunks('{table}') c")
        uncompressed_with_rows = p.count(
            "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = ANY(%s)"
            " AND NOT is_compressed",
            list(COMPRESSED),
        )
        assert compressed >= 3 and uncompressed_with_rows == 0  # every row of those tables is compressed

        # late readings never seen before, into the compressed chunks (the direct COPY)
        _send(p, [(o.topic, o.payload) for o in late])
        assert wait_for(lambda: _counters(p)[0] == len(first) + len(late), 60)
        assert p.stored() == stored + len(late)

        # the first delivery again (a QoS 1 redelivery, a gateway replaying its buffer), and a camera
        # re-sending its first event under a new sequence number after a reboot
        cam = next(o for o in outs if o.kind is DeviceKind.CCTV)
        resent = orjson.loads(cam.payload)
        resent["seq"] = 99_999
        again = [*first, (cam.topic, orjson.dumps(resent))]
        _send(p, again)
        total = len(first) + len(late) + len(again)
        assert wait_for(lambda: _counters(p)[0] == total, 60)

    received, written, duplicates, dead = _counters(p)
    assert (received, written, duplicates, dead) == (total, len(first) + len(late), len(again), 0)
    assert p.stored() == len(first) + len(late)
    for table, key in _KEYS.items():
        assert p.count(f"SELECT count(*) - count(DISTINCT ({key})) FROM {table}") == 0, table
    # the clashes were found in compressed chunks: they are compressed still
    assert (
        p.count(
            "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = ANY(%s)"
            " AND NOT is_compressed",
            list(COMPRESSED),
        )
        == 0
    )
