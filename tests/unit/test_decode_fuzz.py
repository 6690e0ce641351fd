"""Property-based: whatever arrives, the decoder answers with a row or a reason, never an exception."""

from __future__ import annotations

from collections import Counter
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


@st.composite
def near_valid_packs(draw: st.DrawFn) -> list[dict[str, object]]:
    """Packs a gateway would send, at the edges of the rules, now and then with one thing wrong."""
    units = {"pm25": "ug/m3", "pm10": "ug/m3", "o3": "ppm", "co": "ppm", "temp": "Cel", "rh": "%RH"}
    values = {"pm25": [0, 3.5, 5000], "pm10": [12, 5000.5], "o3": [0.031, 10], "co": [0.4, 1000],
              "temp": [-60, 12.5, 70], "rh": [0, 55, 100]}  # fmt: skip
    recs: list[dict[str, object]] = []
    for i in range(draw(st.integers(1, 4))):
        wrong = draw(st.integers(0, 7))  # 0-2: one flaw in this reading, else none
        base: dict[str, object] = {"bn": draw(st.sampled_from(["aq-1:", "aq-2:"])) if wrong else "bad id:"}
        base["bt"] = 1_793_491_200 + 60 * i if wrong != 1 else 100
        if draw(st.booleans()):
            base["bu"] = draw(st.sampled_from(["ug/m3", "ppm"]))
        recs.append({**base, "n": "seq", "v": 7 + i if wrong != 2 else draw(st.sampled_from([2.5, -1]))})
        for m in draw(st.lists(st.sampled_from(list(units)), max_size=3, unique=True)):
            rec: dict[str, object] = {"n": m, "v": draw(st.sampled_from(values[m]))}
            if draw(st.booleans()):
                rec["u"] = units[m] if draw(st.integers(0, 9)) else "K"
            if draw(st.integers(0, 9)) == 0:
                rec["t"] = draw(st.sampled_from([0, 60, -30]))
            recs.append(rec)
    return recs


SENML_PATHS: Counter[str] = Counter()  # which way each generated pack went


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(SENML_RECORD, min_size=1, max_size=12) | near_valid_packs())
def _senml_fast_path_agrees(records: list[object]) -> None:
    from citywatch.contracts.senml import PackError, _parse_carefully, _parse_fast

    try:
        payload = orjson.dumps(records)
    except (TypeError, orjson.JSONEncodeError):
        return
    fast = _parse_fast(payload)
    SENML_PATHS["declined" if fast is None else "accepted"] += 1
    if fast is None:
        return
    try:
        careful = _parse_carefully(payload)
    except PackError as e:  # pragma: no cover - a disagreement
        raise AssertionError(f"fast path accepted what the careful parser refuses: {e}") from None
    assert fast == careful


def test_senml_fast_path_agrees_with_the_careful_parser() -> None:
    """Whenever the fast path accepts a pack, it reads exactly what the careful parser reads; and the
    generated packs take both ways (a fast path that declined every pack would agree vacuously)."""
    SENML_PATHS.clear()
    _senml_fast_path_agrees()
    print(dict(SENML_PATHS))
    assert SENML_PATHS["accepted"] >= 10 and SENML_PATHS["declined"] >= 10, dict(SENML_PATHS)


def test_senml_fast_path_takes_well_formed_packs() -> None:
    """The generator's packs go the fast way (else the fast path would be dead code)."""
    from citywatch.contracts.senml import _parse_fast

    pack = b'[{"bn":"aq-1:","bt":1793491200,"n":"seq","v":1},{"n":"pm25","u":"ug/m3","v":3.5}]'
    assert _parse_fast(pack) is not None
