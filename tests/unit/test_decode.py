"""Decoding and validation, table-driven: every bad input has its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from citywatch.contracts.topics import DeviceKind
from ingest.decode import Accepted, DeviceInfo, Limits, Reason, Rejected, decode

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
REGISTRY = {
    "aq-1": DeviceInfo(DeviceKind.AIR_QUALITY),
    "pk-1": DeviceInfo(DeviceKind.PARKING),
    "cam-1": DeviceInfo(DeviceKind.CCTV),
    "bus-1": DeviceInfo(DeviceKind.BUS),
    "stop-1": DeviceInfo(DeviceKind.STOP),
    "old-1": DeviceInfo(DeviceKind.AIR_QUALITY, active=False),
}
LIMITS = Limits(max_payload_bytes=4096, max_future=timedelta(minutes=5), max_past=timedelta(days=2))
TS = NOW.isoformat()


def make(device: str = "aq-1", **kw: object) -> bytes:
    body: dict[str, object] = {"v": 1, "device_id": device, "ts": TS, "seq": 1, **kw}
    return orjson.dumps({k: v for k, v in body.items() if v is not ...})


VALID = [
    ("aq", "cw/v1/aq/aq-1/telemetry", make(pm10=40.0, pm25=20.5, o3=0.03, co=None), "air_quality"),
    ("aq-all-null", "cw/v1/aq/aq-1/telemetry", make(), "air_quality"),
    (
        "parking",
        "cw/v1/parking/pk-1/state",
        make("pk-1", lot_id="lot-1", space_id="S1", occupied=True, battery_pct=80, rssi_dbm=-70),
        "parking_events",
    ),
    (
        "cctv",
        "cw/v1/cctv/cam-1/event",
        make(
            "cam-1",
            event_id="e-12345678",
            event_type="fire",
            confidence=0.9,
            object_class="fire",
            bbox={"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2},
            zone="market",
        ),
        "cctv_events",
    ),
    (
        "bus",
        "cw/v1/bus/bus-1/position",
        make("bus-1", route_id="r1", lat=37.2, lon=127.0, speed_kmh=30, heading_deg=90, door_open=False),
        "bus_positions",
    ),
    (
        "stop",
        "cw/v1/stop/stop-1/request",
        make(
            "stop-1", request_id="req-12345678", stop_id="st-1", route_id="r1", passengers=2, source="button"
        ),
        "stop_requests",
    ),
    (
        "status",
        "cw/v1/bus/bus-1/status",
        orjson.dumps({"v": 1, "device_id": "bus-1", "ts": TS, "status": "offline"}),
        "device_status",
    ),
    (
        "driver-ack",
        "cw/v1/bus/bus-1/ack",
        make("bus-1", stop_id="st-1", request_ids=["req-12345678"]),
        "driver_acks",
    ),
    ("offset-timezone", "cw/v1/aq/aq-1/telemetry", make(ts="2026-11-01T21:00:00+09:00"), "air_quality"),
]


@pytest.mark.parametrize(("topic", "payload", "table"), [v[1:] for v in VALID], ids=[v[0] for v in VALID])
def test_accepts(topic: str, payload: bytes, table: str) -> None:
    out = decode(topic.encode(), payload, NOW, REGISTRY, LIMITS)
    assert isinstance(out, Accepted), out
    assert out.table.name == table
    assert len(out.row) == len(out.table.columns)
    assert out.time.tzinfo is not None


INVALID = [
    ("oversize", "cw/v1/aq/aq-1/telemetry", b"{" + b" " * 5000 + b"}", Reason.OVERSIZE),
    ("topic-not-utf8", b"cw/v1/aq/\xff/telemetry", make(), Reason.BAD_TOPIC),
    ("unknown-topic", "cw/v1/aq/aq-1/nope", make(), Reason.BAD_TOPIC),
    ("unknown-device", "cw/v1/aq/ghost/telemetry", make("ghost"), Reason.UNKNOWN_DEVICE),
    ("retired", "cw/v1/aq/old-1/telemetry", make("old-1"), Reason.RETIRED_DEVICE),
    ("wrong-kind", "cw/v1/parking/aq-1/state", make(), Reason.WRONG_KIND),
    ("not-json", "cw/v1/aq/aq-1/telemetry", b"{nope", Reason.MALFORMED_JSON),
    ("binary", "cw/v1/aq/aq-1/telemetry", b"\xff\xfe\x00", Reason.MALFORMED_JSON),
    ("json-array", "cw/v1/aq/aq-1/telemetry", b"[1, 2]", Reason.INVALID_PAYLOAD),
    ("empty", "cw/v1/aq/aq-1/telemetry", b"", Reason.MALFORMED_JSON),
    ("nan", "cw/v1/aq/aq-1/telemetry", make().replace(b"}", b',"pm25":NaN}'), Reason.NON_FINITE),
    ("infinity", "cw/v1/aq/aq-1/telemetry", make().replace(b"}", b',"pm10":Infinity}'), Reason.NON_FINITE),
    ("huge-number", "cw/v1/aq/aq-1/telemetry", make().replace(b"}", b',"pm10":1e999}'), Reason.NON_FINITE),
    ("wrong-type", "cw/v1/aq/aq-1/telemetry", make(seq="seven"), Reason.INVALID_PAYLOAD),
    ("negative", "cw/v1/aq/aq-1/telemetry", make(pm25=-3), Reason.INVALID_PAYLOAD),
    ("extra-field", "cw/v1/aq/aq-1/telemetry", make(colour="red"), Reason.INVALID_PAYLOAD),
    ("missing-seq", "cw/v1/aq/aq-1/telemetry", make(seq=...), Reason.INVALID_PAYLOAD),
    ("naive-ts", "cw/v1/aq/aq-1/telemetry", make(ts="2026-11-01T12:00:00"), Reason.INVALID_PAYLOAD),
    ("bad-date", "cw/v1/aq/aq-1/telemetry", make(ts="2026-13-45T99:00:00Z"), Reason.INVALID_PAYLOAD),
    ("version-2", "cw/v1/aq/aq-1/telemetry", make(v=2), Reason.UNSUPPORTED_VERSION),
    ("device-mismatch", "cw/v1/aq/aq-1/telemetry", make("aq-2"), Reason.DEVICE_MISMATCH),
    (
        "future",
        "cw/v1/aq/aq-1/telemetry",
        make(ts=(NOW + timedelta(hours=1)).isoformat()),
        Reason.CLOCK_FUTURE,
    ),
    ("past", "cw/v1/aq/aq-1/telemetry", make(ts=(NOW - timedelta(days=3)).isoformat()), Reason.CLOCK_PAST),
    (
        "bad-event-type",
        "cw/v1/cctv/cam-1/event",
        make(
            "cam-1",
            event_id="e-12345678",
            event_type="party",
            confidence=0.9,
            object_class="person",
            bbox={"x": 0, "y": 0, "w": 0, "h": 0},
            zone="z",
        ),
        Reason.INVALID_PAYLOAD,
    ),
    (
        "confidence>1",
        "cw/v1/cctv/cam-1/event",
        make(
            "cam-1",
            event_id="e-12345678",
            event_type="fall",
            confidence=1.5,
            object_class="person",
            bbox={"x": 0, "y": 0, "w": 0, "h": 0},
            zone="z",
        ),
        Reason.INVALID_PAYLOAD,
    ),
    (
        "latitude",
        "cw/v1/bus/bus-1/position",
        make("bus-1", route_id="r1", lat=137.2, lon=127.0, speed_kmh=3, heading_deg=90, door_open=False),
        Reason.INVALID_PAYLOAD,
    ),
    (
        "passengers-0",
        "cw/v1/stop/stop-1/request",
        make("stop-1", request_id="req-12345678", stop_id="st-1", route_id="r1", passengers=0, source="app"),
        Reason.INVALID_PAYLOAD,
    ),
    ("deep-json", "cw/v1/aq/aq-1/telemetry", b"[" * 3000 + b"]" * 3000, Reason.OVERSIZE),
    ("deep-json-small", "cw/v1/aq/aq-1/telemetry", b"[" * 1000 + b"]" * 1000, Reason.MALFORMED_JSON),
]


@pytest.mark.parametrize(
    ("topic", "payload", "reason"), [v[1:] for v in INVALID], ids=[v[0] for v in INVALID]
)
def test_rejects_with_reason(topic: str | bytes, payload: bytes, reason: Reason) -> None:
    t = topic if isinstance(topic, bytes) else topic.encode()
    out = decode(t, payload, NOW, REGISTRY, LIMITS)
    assert isinstance(out, Rejected), out
    assert out.reason is reason, out
    assert out.detail
