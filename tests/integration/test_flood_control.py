"""Per-device flood control: a runaway device is held back by its own clock, its readings kept as
dead letters with the reason ``rate_limited``; a backlog sent at the device's normal pace passes, and
other devices are not touched."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from citywatch.contracts import messages as m
from citywatch.contracts.topics import DeviceKind, topic_for
from ingest.decode import DeviceInfo, Limits, Reason, Rejected, decode, decode_all
from ingest.ratelimit import DeviceRateLimiter
from simulators.publisher import Publisher
from tests.support import SECRET, Platform, wait_for

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


# -- the bucket (pure) ------------------------------------------------------------------------
def test_a_burst_passes_then_the_rate_holds() -> None:
    lim = DeviceRateLimiter(rate=2.0, burst=5)
    t = 1000.0
    assert [lim.allow("a", t, t) for _ in range(7)] == [True] * 5 + [False] * 2
    assert lim.allow("a", t + 0.4, t + 0.4) is False  # 0.8 of a token
    assert lim.allow("a", t + 0.5, t + 0.5) is True  # one token after half a second at 2/s
    assert [lim.allow("a", t + 10.0, t + 10.0) for _ in range(6)] == [True] * 5 + [False]  # up to the burst
    assert lim.take_refusals() == {"a": 4}
    assert lim.take_refusals() == {}


def test_one_stamp_sent_fast_is_held_to_the_rate_of_arrival() -> None:
    lim = DeviceRateLimiter(rate=10.0, burst=10)
    # a camera re-sending one event: the same stamp, 1,000 a second for 2 s
    passed = sum(lim.allow("cam", 500.0, 1000.0 + i / 1000) for i in range(2000))
    assert 29 <= passed <= 30  # the burst of 10, then 10/s over the 2 s of arrival


def test_devices_have_their_own_buckets_and_a_clock_stepping_back_carries_on_from_there() -> None:
    lim = DeviceRateLimiter(rate=1.0, burst=2)
    assert lim.allow("a", 100.0, 100.0) and lim.allow("a", 100.0, 100.0)
    assert not lim.allow("a", 100.0, 100.0)
    assert lim.allow("b", 100.0, 100.0)  # another device is untouched
    assert not lim.allow("a", 50.0, 100.0)  # its clock stepped back: no credit for that
    assert lim.allow("a", 51.0, 100.0)  # a second on from its new time: one token
    assert not lim.allow("a", 51.0, 100.0)
    assert lim.allow("a", 51.0, 101.0)  # or a second of arrival time


def test_a_backlog_at_the_normal_pace_passes_however_fast_it_arrives() -> None:
    lim = DeviceRateLimiter(rate=1.0, burst=3)
    assert all(lim.allow("a", 1000.0 + 60 * i, 5000.0) for i in range(500))  # one a minute, all at once


def test_forget_drops_unregistered_devices() -> None:
    lim = DeviceRateLimiter(rate=1.0, burst=1)
    lim.allow("a", 0.0, 0.0)
    lim.allow("b", 0.0, 0.0)
    lim.forget({"b"})
    assert lim.allow("a", 0.0, 0.0)  # a fresh bucket
    assert not lim.allow("b", 0.0, 0.0)


@pytest.mark.parametrize("rate,burst", [(0.0, 10), (-1.0, 10), (1.0, 0)])
def test_meaningless_limits_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        DeviceRateLimiter(rate, burst)


# -- in the decoder -----------------------------------------------------------------------------
REGISTRY = {"aq-1": DeviceInfo(DeviceKind.AIR_QUALITY), "gw-1": DeviceInfo(DeviceKind.AIR_QUALITY)}
REGISTRY |= {"aq-2": DeviceInfo(DeviceKind.AIR_QUALITY, gateway="gw-1")}


def reading(seq: int, ts: datetime) -> bytes:
    return m.to_json(m.AirQualityReading(device_id="aq-1", ts=ts, seq=seq, pm25=12.0))


def test_the_decoder_refuses_what_the_limit_refuses_and_only_valid_readings_take_tokens() -> None:
    lim = DeviceRateLimiter(rate=1.0, burst=2)
    topic = b"cw/v1/aq/aq-1/telemetry"
    out = [decode(topic, reading(i, NOW), NOW, REGISTRY, Limits(), lim.allow) for i in range(3)]
    assert [type(d).__name__ for d in out] == ["Accepted", "Accepted", "Rejected"]
    assert (
        isinstance(out[2], Rejected) and out[2].reason is Reason.RATE_LIMITED and out[2].device_id == "aq-1"
    )
    # a bad message is refused for what it is, and costs no token
    bad = decode(topic, b"{", NOW, REGISTRY, Limits(), lim.allow)
    assert isinstance(bad, Rejected) and bad.reason is Reason.MALFORMED_JSON
    assert (
        decode(
            topic, reading(3, NOW + timedelta(seconds=1)), NOW, REGISTRY, Limits(), lim.allow
        ).__class__.__name__
        == "Accepted"
    )


def test_pack_readings_are_limited_one_by_one_per_device() -> None:
    lim = DeviceRateLimiter(rate=1.0, burst=2)
    t = NOW.timestamp()
    records: list[dict[str, object]] = []
    for i in range(4):  # four readings of aq-2 stamped within 40 ms
        records += [
            {"bn": "aq-2:", "bt": t + i / 100, "n": "seq", "v": i},
            {"n": "pm25", "u": "ug/m3", "v": 10},
        ]
    pack = orjson.dumps(records)
    out = decode_all(b"cw/v1/aq/gw-1/pack", pack, NOW, REGISTRY, Limits(), lim.allow)
    reasons = [d.reason if isinstance(d, Rejected) else "ok" for d in out]
    assert reasons.count("ok") == 2 and reasons.count(Reason.RATE_LIMITED) == 2
    kept = [d for d in out if isinstance(d, Rejected)]
    assert len({d.payload for d in kept}) == 2  # each refused reading is its own dead letter


# -- through Mosquitto, ingest and TimescaleDB ----------------------------------------------------
def test_a_flooding_camera_is_held_back_and_nothing_is_lost(platform: Platform, run_ingest) -> None:  # type: ignore[no-untyped-def]
    cam = next(iter(platform.city.of_kind(DeviceKind.CCTV)))
    calm, late = list(platform.city.of_kind(DeviceKind.AIR_QUALITY))[:2]
    t0 = datetime.now(UTC) - timedelta(hours=5)
    flood, backlog, steady = 400, 240, 30
    with run_ingest(platform.settings(device_rate_per_s=2.0, device_burst=20)):
        pub = Publisher(host="127.0.0.1", port=platform.broker.port, secret=SECRET, mode="gateway")
        pub.open([])
        began = time.monotonic()
        # a camera re-sending one detection in a loop: 400 events stamped within 0.4 s
        for i in range(flood):
            ev = m.CctvEvent(
                device_id=cam.device_id, ts=t0 + timedelta(milliseconds=i), seq=i, event_id=f"evt-loop-{i:06d}",
                confidence=0.6, event_type=m.CctvEventType.LOITERING, object_class=m.ObjectClass.PERSON,
                bbox=m.BoundingBox(x=0.1, y=0.1, w=0.2, h=0.2), zone=cam.zone,
            )  # fmt: skip
            pub.send_raw(topic_for(DeviceKind.CCTV, cam.device_id), m.to_json(ev))
            if i < steady:  # a station reporting normally, interleaved with the flood
                r = m.AirQualityReading(
                    device_id=calm.device_id, ts=t0 + timedelta(minutes=i), seq=i, pm25=11.0
                )
                pub.send_raw(topic_for(DeviceKind.AIR_QUALITY, calm.device_id), m.to_json(r))
        # a station whose four hours of readings (one a minute) arrive at once after an outage
        for i in range(backlog):
            r = m.AirQualityReading(device_id=late.device_id, ts=t0 + timedelta(minutes=i), seq=i, pm25=20.0)
            pub.send_raw(topic_for(DeviceKind.AIR_QUALITY, late.device_id), m.to_json(r))
        assert pub.flush(30)
        took = time.monotonic() - began  # the flood arrived within this
        pub.close()
        total = flood + backlog + steady

        def landed() -> int:
            return platform.stored() + platform.count("SELECT count(*) FROM dead_letters")

        assert wait_for(lambda: landed() == total, 30), (landed(), total)

    def stored(table: str, dev: str) -> int:
        return platform.count(f"SELECT count(*) FROM {table} WHERE device_id = %s", dev)

    limited = platform.query(
        "SELECT device_id, count(*) FROM dead_letters WHERE reason = 'rate_limited' GROUP BY 1"
    )
    assert {d for d, _ in limited} == {cam.device_id}  # only the flooding camera was held back
    cam_stored = stored("cctv_events", cam.device_id)
    # the burst, plus 2/s over the time the flood took to arrive (its own clock moved only 0.4 s)
    assert 20 <= cam_stored <= 20 + 2 * (took + 1), (cam_stored, took)
    assert cam_stored + int(limited[0][1]) == flood  # type: ignore[call-overload]  # nothing lost
    assert stored("air_quality", calm.device_id) == steady
    assert stored("air_quality", late.device_id) == backlog  # the backlog is not a flood
    assert platform.count("SELECT count(*) FROM dead_letters WHERE reason <> 'rate_limited'") == 0
    detail = platform.scalar("SELECT detail FROM dead_letters WHERE reason = 'rate_limited' LIMIT 1")
    assert cam.device_id in str(detail)
