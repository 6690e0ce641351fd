"""Property-based: whatever arrives, the decoder answers with a row or a reason, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citywatch.contracts.topics import DeviceKind
from ingest.decode import Accepted, DeviceInfo, Limits, Rejected, decode_all

NOW = datetime(2026, 11, 1, tzinfo=UTC)
REGISTRY = {
    "aq-1": DeviceInfo(DeviceKind.AIR_QUALITY),
    "aq-2": DeviceInfo(DeviceKind.AIR_QUALITY, gateway="aq-1"),
    "bus-1": DeviceInfo(DeviceKind.BUS),
}
TOPICS = st.sampled_from(
    [
        b"cw/v1/aq/aq-1/telemetry",
        b"cw/v1/bus/bus-1/position",
        b"cw/v1/bus/bus-1/status",
        b"cw/v1/aq/aq-1/state",
        b"cw/v1/aq/aq-1/pack",
        b"cw/v1/bus/bus-1/pack",
    ]
) | st.binary(max_size=80)
JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
FIELDS = st.fixed_dictionaries(
    {
        "v": st.sampled_from([1, 2, "1", None]),
        "device_id": st.sampled_from(["aq-1", "bus-1", "x", ""]),
        "ts": st.sampled_from(
            [
                "2026-11-01T00:00:00Z",
                "2026-11-01T00:00:00",
                "9999-12-31T23:59:59Z",
                "0001-01-01T00:00:00Z",
                "yesterday",
                "",
            ]
        ),
        "seq": st.integers(min_value=-(2**70), max_value=2**70),
    },
    optional={
        "pm25": JSONISH,
        "lat": JSONISH,
        "speed_kmh": JSONISH,
        "door_open": JSONISH,
        "route_id": JSONISH,
        "status": JSONISH,
    },
)


def check(topic: bytes, payload: bytes) -> None:
    outs = decode_all(topic, payload, NOW, REGISTRY, Limits())
    assert outs
    for out in outs:
        assert isinstance(out, Accepted | Rejected)
        if isinstance(out, Rejected):
            assert out.detail


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(TOPICS, st.binary(max_size=300))
def test_arbitrary_bytes(topic: bytes, payload: bytes) -> None:
    check(topic, payload)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(TOPICS, FIELDS)
def test_plausible_json(topic: bytes, body: dict[str, object]) -> None:
    try:
        payload = orjson.dumps(body)
    except (TypeError, orjson.JSONEncodeError):
        payload = repr(body).encode()
    check(topic, payload.replace(b"null", b"NaN", 1))
    check(topic, payload)


SENML_RECORD = st.fixed_dictionaries(
    {},
    optional={
        "bn": st.sampled_from(["aq-1:", "aq-2:", "bus-1:", "", "x", ":", "aq-2"]) | st.text(max_size=8),
        "bt": st.sampled_from([1_793_491_200, 0, -1, 1e300]) | JSONISH,
        "bu": st.sampled_from(["ppm", "ug/m3", None]) | JSONISH,
        "bver": st.sampled_from([10, 5, 99]) | JSONISH,
        "n": st.sampled_from(["seq", "pm25", "o3", "temp", "rh", "bogus", "pm25:x"]) | JSONISH,
        "u": st.sampled_from(["ug/m3", "ppm", "Cel", "%RH", "K"]) | JSONISH,
        "v": st.sampled_from([0, 1, 12.5, -3, 1e9]) | JSONISH,
        "t": st.sampled_from([0, 1.5, -60]) | JSONISH,
        "vs": JSONISH,
        "foo_": JSONISH,
    },
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(SENML_RECORD | JSONISH, max_size=12))
def test_senml_packs(records: list[object]) -> None:
    try:
        payload = orjson.dumps(records)
    except (TypeError, orjson.JSONEncodeError):
        payload = repr(records).encode()
    check(b"cw/v1/aq/aq-1/pack", payload)
