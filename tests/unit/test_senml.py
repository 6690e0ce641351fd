"""Gateway packs (SenML, RFC 8428): a pack's readings become exactly the rows single messages would,
and every reading that cannot be stored is refused on its own with a reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from citywatch.contracts import messages as m
from citywatch.contracts.senml import PackError, parse_pack, to_pack
from citywatch.contracts.topics import DeviceKind
from ingest.decode import Accepted, DeviceInfo, Limits, Reason, Rejected, decode, decode_all

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
T = NOW.timestamp() - 60
REGISTRY = {
    "gw-1": DeviceInfo(DeviceKind.AIR_QUALITY),
    "aq-1": DeviceInfo(DeviceKind.AIR_QUALITY, gateway="gw-1"),
    "aq-2": DeviceInfo(DeviceKind.AIR_QUALITY, gateway="gw-1"),
    "aq-9": DeviceInfo(DeviceKind.AIR_QUALITY, gateway="gw-2"),
    "old-1": DeviceInfo(DeviceKind.AIR_QUALITY, active=False, gateway="gw-1"),
    "bus-1": DeviceInfo(DeviceKind.BUS, gateway="gw-1"),
}
TOPIC = b"cw/v1/aq/gw-1/pack"
LIMITS = Limits()


def reading(device: str, seq: int, t: float = T, **values: float) -> m.AirQualityReading:
    return m.AirQualityReading(device_id=device, ts=datetime.fromtimestamp(t, UTC), seq=seq, **values)  # type: ignore[arg-type]


def run(records: list[dict[str, object]]) -> list[Accepted | Rejected]:
    return decode_all(TOPIC, orjson.dumps(records), NOW, REGISTRY, LIMITS)


def test_a_pack_gives_the_rows_single_messages_would() -> None:
    readings = [
        reading("aq-1", 7, pm25=18.5, pm10=33.0, o3=0.031, temp_c=21.5, rh=55.0),
        reading("aq-2", 1, T + 60, pm25=4.0, co=0.4, no2=0.012, so2=0.003),
        reading("gw-1", 3, pm10=12.0),  # the gateway's own station
    ]
    got = decode_all(TOPIC, to_pack(readings), NOW, REGISTRY, LIMITS)
    single = [
        decode(f"cw/v1/aq/{r.device_id}/telemetry".encode(), m.to_json(r), NOW, REGISTRY, LIMITS)
        for r in readings
    ]
    assert all(isinstance(x, Accepted) for x in got + single)
    assert [x.row for x in got] == [x.row for x in single]  # type: ignore[union-attr]
    assert [(x.device_id, x.stream.value, x.seq) for x in got] == [  # type: ignore[union-attr]
        ("aq-1", "telemetry", 7),
        ("aq-2", "telemetry", 1),
        ("gw-1", "telemetry", 3),
    ]


def test_base_fields_and_relative_t_resolve_per_rfc_8428() -> None:
    pack = [
        {"bn": "aq-1:", "bt": T, "bu": "ug/m3", "n": "seq", "v": 1},
        {"n": "pm25", "v": 10},  # unit from bu
        {"n": "seq", "t": 60, "v": 2},
        {"n": "pm25", "t": 60, "v": 11},
        {"bn": "aq-2:", "n": "seq", "v": 5},  # bt carries over to the next base name
        {"n": "o3", "u": "ppm", "v": 0.02},
    ]
    got = run(pack)
    assert [(x.device_id, x.seq, x.row[4], x.row[5], x.time.timestamp()) for x in got] == [  # type: ignore[union-attr]
        ("aq-1", 1, 10.0, None, T),
        ("aq-1", 2, 11.0, None, T + 60),
        ("aq-2", 5, None, 0.02, T),
    ]


BAD_READINGS = [
    (
        "unknown measurement",
        {"n": "benzene", "v": 1.0},
        Reason.INVALID_PAYLOAD,
        "unknown measurement 'benzene'",
    ),
    ("wrong unit", {"n": "pm25", "u": "mg/m3", "v": 1.0}, Reason.INVALID_PAYLOAD, "expected 'ug/m3'"),
    ("out of range", {"n": "pm25", "u": "ug/m3", "v": -3}, Reason.INVALID_PAYLOAD, "outside [0, 5000]"),
    ("not a number", {"n": "pm25", "v": "high"}, Reason.INVALID_PAYLOAD, "finite number"),
    ("string value", {"n": "pm25", "vs": "12"}, Reason.INVALID_PAYLOAD, "unsupported field 'vs'"),
    ("given twice", {"n": "seq", "v": 2}, Reason.INVALID_PAYLOAD, "seq given twice"),
]


@pytest.mark.parametrize(("case", "record", "reason", "why"), BAD_READINGS, ids=[b[0] for b in BAD_READINGS])
def test_a_bad_reading_is_refused_alone(
    case: str, record: dict[str, object], reason: Reason, why: str
) -> None:
    pack = [
        {"bn": "aq-1:", "bt": T, "n": "seq", "v": 1},
        {"n": "pm25", "u": "ug/m3", "v": 10},
        {"bn": "aq-2:", "n": "seq", "v": 9},
        record,
    ]
    got = run(pack)
    ok = [x for x in got if isinstance(x, Accepted)]
    bad = [x for x in got if isinstance(x, Rejected)]
    assert [x.device_id for x in ok] == ["aq-1"]
    assert len(bad) == 1 and bad[0].reason is reason and why in bad[0].detail, bad
    assert bad[0].payload and orjson.loads(bad[0].payload)  # the dead letter keeps the reading's own records


@pytest.mark.parametrize(
    ("device", "reason", "why"),
    [
        ("aq-9", Reason.DEVICE_MISMATCH, "not behind gateway gw-1"),
        ("nobody", Reason.UNKNOWN_DEVICE, "not in the device registry"),
        ("old-1", Reason.RETIRED_DEVICE, "retired"),
        ("bus-1", Reason.WRONG_KIND, "is a bus device"),
    ],
)
def test_a_gateway_speaks_only_for_its_own_stations(device: str, reason: Reason, why: str) -> None:
    got = run([{"bn": f"{device}:", "bt": T, "n": "seq", "v": 1}, {"n": "pm10", "u": "ug/m3", "v": 5}])
    assert len(got) == 1 and isinstance(got[0], Rejected)
    assert got[0].reason is reason and why in got[0].detail and got[0].device_id == device


@pytest.mark.parametrize(
    ("when", "reason"),
    [(NOW.timestamp() + 3600, Reason.CLOCK_FUTURE), (NOW.timestamp() - 40 * 86400, Reason.CLOCK_PAST)],
)
def test_clock_limits_apply_per_reading(when: float, reason: Reason) -> None:
    got = run([{"bn": "aq-1:", "bt": when, "n": "seq", "v": 1}])
    assert isinstance(got[0], Rejected) and got[0].reason is reason


@pytest.mark.parametrize(
    ("records", "why"),
    [
        ([{"bn": "aq-1:", "bt": 100, "n": "seq", "v": 1}], "relative times are not supported"),
        ([{"bn": "aq-1:", "bt": 1e300, "n": "seq", "v": 1}], "beyond the year 9999"),
        ([{"bn": "aq-1:", "bt": T, "n": "pm25", "v": 1}], "needs a 'seq'"),
        ([{"bn": "aq-1:", "bt": T, "n": "seq", "v": 1.5}], "whole number"),
        ([{"bt": T, "n": "pm25", "v": 1}], "is not 'device_id:measurement'"),
    ],
)
def test_readings_that_cannot_be_placed(records: list[dict[str, object]], why: str) -> None:
    got = run(records)
    assert len(got) == 1 and isinstance(got[0], Rejected) and why in got[0].detail, got


@pytest.mark.parametrize(
    ("payload", "reason", "why"),
    [
        (b"{not json", Reason.MALFORMED_JSON, "not JSON"),
        (b"{}", Reason.INVALID_PAYLOAD, "non-empty JSON array"),
        (b"[]", Reason.INVALID_PAYLOAD, "non-empty JSON array"),
        (b"[1]", Reason.INVALID_PAYLOAD, "record 0 is not an object"),
        (b'[{"bn": "aq-1:"}]', Reason.INVALID_PAYLOAD, "no readings"),
        (b'[{"bver": 99, "n": "x", "v": 1}]', Reason.INVALID_PAYLOAD, "version 99"),
        (b'[{"bn": "aq-1:", "n": "seq", "v": 1, "calib_": 2}]', Reason.INVALID_PAYLOAD, "must-understand"),
        (orjson.dumps([{"bn": "aq-1:"}] * 5001), Reason.INVALID_PAYLOAD, "5001 records"),
    ],
)
def test_a_pack_that_cannot_be_read_is_one_dead_letter(payload: bytes, reason: Reason, why: str) -> None:
    got = decode_all(TOPIC, payload, NOW, REGISTRY, Limits(max_payload_bytes=1 << 20))
    assert len(got) == 1 and isinstance(got[0], Rejected)
    assert got[0].reason is reason and why in got[0].detail and got[0].payload is None


def test_pack_topic_rules() -> None:
    big = to_pack([reading("aq-1", i, pm25=1.0) for i in range(2000)])
    assert decode_all(TOPIC, big, NOW, REGISTRY, Limits(max_payload_bytes=1000))[0].reason is Reason.OVERSIZE  # type: ignore[union-attr]
    only = to_pack([reading("aq-1", 1, pm25=1.0)])
    assert decode_all(b"cw/v1/aq/nobody/pack", only, NOW, REGISTRY, LIMITS)[0].reason is Reason.UNKNOWN_DEVICE  # type: ignore[union-attr]
    assert decode_all(b"cw/v1/bus/bus-1/pack", only, NOW, REGISTRY, LIMITS)[0].reason is Reason.BAD_TOPIC  # type: ignore[union-attr]
    # a pack on the single-reading path is a clear refusal, not a crash
    assert decode(TOPIC, only, NOW, REGISTRY, LIMITS).reason is Reason.BAD_TOPIC  # type: ignore[union-attr]


def test_parse_pack_is_strict_about_the_whole() -> None:
    with pytest.raises(PackError):
        parse_pack(b'"x"')
    good, bad = parse_pack(to_pack([reading("aq-1", 1, pm25=2.0)]))
    assert [(g.device_id, g.seq, g.values) for g in good] == [("aq-1", 1, {"pm25": 2.0})] and not bad


def test_every_measurement_round_trips() -> None:
    r = reading("aq-1", 3, pm10=1.0, pm25=2.0, o3=0.1, no2=0.2, co=3.0, so2=0.01, temp_c=-5.0, rh=99.0)
    (g,), _ = parse_pack(to_pack([r]))
    assert g.values == {
        "pm10": 1.0,
        "pm25": 2.0,
        "o3": 0.1,
        "no2": 0.2,
        "co": 3.0,
        "so2": 0.01,
        "temp_c": -5.0,
        "rh": 99.0,
    }
    assert timedelta(seconds=abs(g.time - r.ts.timestamp())) < timedelta(microseconds=1)
