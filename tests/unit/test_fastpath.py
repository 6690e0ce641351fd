"""The msgspec fast path never decides differently from the contract models: same constraints, and
on valid, mutated and hostile payloads it either declines or gives exactly the model's row."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citywatch.contracts import messages as m
from ingest import fastpath
from ingest.rows import ROW_OF

R = datetime(2026, 11, 1, tzinfo=UTC)
VALID: dict[type[Any], dict[str, Any]] = {
    m.AirQualityReading: {
        "v": 1,
        "device_id": "aq-0001",
        "ts": "2026-11-01T08:59:59.250000+09:00",
        "seq": 41,
        "pm10": 33.0,
        "pm25": 18.5,
        "o3": 0.031,
        "rh": 55,
    },
    m.ParkingSpaceState: {
        "device_id": "pk-0001",
        "ts": "2026-10-31T23:59:00Z",
        "seq": 7,
        "lot_id": "lot-01",
        "space_id": "B1-017",
        "occupied": True,
        "reason": "heartbeat",
        "battery_pct": 88.5,
        "rssi_dbm": -97,
    },
    m.BusPosition: {
        "v": 1,
        "device_id": "bus-0203",
        "ts": "2026-11-01T00:00:00.64Z",
        "seq": 0,
        "route_id": "r2",
        "lat": 37.279006,
        "lon": 127.03704,
        "speed_kmh": 31.2,
        "heading_deg": 359.9,
        "door_open": False,
    },
}
NUMERIC = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "const", "enum", "default")


def _model_row(model: type[Any], payload: bytes) -> tuple[Any, ...] | None:
    try:
        msg = model.model_validate_json(payload)
    except Exception:
        return None
    return ROW_OF[model][1](msg, R)


def _fast_row(model: type[Any], payload: bytes) -> tuple[Any, ...] | None:
    p = fastpath.decode_fast(fastpath.FAST[model], payload, VALID[model]["device_id"])  # the topic's device
    return None if p is None else ROW_OF[model][1](p, R)


MIRRORS = {model: fast.struct for model, fast in fastpath.FAST.items()}


@pytest.mark.parametrize("model", list(MIRRORS), ids=lambda c: c.__name__)
def test_the_mirror_has_the_models_fields_and_numeric_constraints(model: type[Any]) -> None:
    ours = msgspec.json.schema(MIRRORS[model])
    ours = ours["$defs"][ours["$ref"].rsplit("/", 1)[-1]]
    theirs = model.model_json_schema()
    assert set(ours["properties"]) == set(theirs["properties"])
    assert set(ours.get("required", [])) == set(theirs.get("required", []))

    def numeric(schema: dict[str, Any]) -> dict[str, Any]:
        # an Optional field: pydantic says anyOf [{...}, {"type": "null"}], msgspec too
        parts = schema.get("anyOf", [schema])
        out = {k: v for part in parts for k, v in part.items() if k in NUMERIC}
        if "const" in out:  # the same constraint, spelled two ways
            out["enum"] = [out.pop("const")]
        return out

    for name, prop in theirs["properties"].items():
        assert numeric(ours["properties"][name]) == numeric(prop), name


def test_the_string_checks_are_the_models() -> None:
    assert (
        fastpath._ID.pattern == m.BusPosition.model_json_schema()["properties"]["route_id"]["pattern"][1:-1]
    )
    space = m.ParkingSpaceState.model_json_schema()["properties"]["space_id"]
    assert (space["minLength"], space["maxLength"]) == (1, 64)
    assert fastpath._label_ok("B1-017") and not fastpath._label_ok(" B1") and not fastpath._label_ok("")


@pytest.mark.parametrize("model", list(MIRRORS), ids=lambda c: c.__name__)
def test_valid_payloads_take_the_fast_path_and_give_the_models_row(model: type[Any]) -> None:
    payload = orjson.dumps(VALID[model])
    assert _fast_row(model, payload) == _model_row(model, payload) is not None


# values a field might be given: the right kind, the wrong kind, extremes, padding, other scripts
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, -1, 5000, 5000.0001, 360, 359.99999, -150, 2**62, 2**62 + 1, 1e308]),
    st.text(max_size=70),
    st.sampled_from(["r2", " r2", "r2 ", "B1 017", "lot-01", "٣", "a" * 64, "a" * 65, "true", "change"]),
    st.lists(st.integers(), max_size=2),
)


def _timestamps() -> st.SearchStrategy[str]:
    instants = st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    )
    offsets = st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-3, minutes=-30))])

    def render(t: datetime, tz: timezone, fmt: int, digits: int) -> str:
        local = t.astimezone(tz)
        frac = f"{local.microsecond:06d}{'57'[fmt % 2]}"[:digits]
        base = local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if digits else "")
        off = "Z" if fmt < 2 and tz is UTC else local.strftime("%z")
        if fmt == 3:
            off = off[:3] + ":" + off[3:] if off != "Z" else off
        return base.replace("T", " ") + off if fmt == 4 else base + off

    odd = st.sampled_from(
        [
            "2026-11-01T00:00:00",
            "2026-11-01T24:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-01T00:00:60Z",
            "2026-11-01t00:00:00z",
            "２０２６-11-01T00:00:00Z",
            "2026-11-01T00:00:00.1234567Z",
            "1790000000",
        ]
    )
    return st.builds(render, instants, offsets, st.integers(0, 4), st.integers(0, 8)) | odd


PATHS: Counter[str] = Counter()  # which way each generated case went


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(list(MIRRORS)),
    changes=st.dictionaries(st.text(max_size=12), ODD, max_size=3),
    drop=st.sets(st.text(max_size=12), max_size=2),
    ts=_timestamps(),
    pick=st.data(),
)
def _fast_path_declines_or_agrees(
    model: type[Any], changes: dict[str, Any], drop: set[str], ts: str, pick: st.DataObject
) -> None:
    body = dict(VALID[model])
    fields = list(body)
    # mutate real fields more often than made-up ones
    for _ in range(pick.draw(st.integers(0, 2))):
        body[pick.draw(st.sampled_from(fields))] = pick.draw(ODD)
    body.update(changes)
    for k in drop | set(pick.draw(st.lists(st.sampled_from(fields), max_size=1))):
        body.pop(k, None)
    if pick.draw(st.booleans()):
        body["ts"] = ts
    payload = json.dumps(body).encode()  # (orjson refuses integers past 64 bits; a device may not)
    fast = _fast_row(model, payload)
    PATHS["declined" if fast is None else "agreed"] += 1
    if fast is not None:
        assert fast == _model_row(model, payload), payload


def test_the_fast_path_declines_or_agrees() -> None:
    """Every payload the fast path takes, it reads as the model does; and the generated cases exercise
    both ways (a fast path that declined everything would agree vacuously)."""
    PATHS.clear()
    _fast_path_declines_or_agrees()
    print(dict(PATHS))
    assert PATHS["agreed"] >= 100 and PATHS["declined"] >= 100, dict(PATHS)


def test_timestamps_with_more_than_microseconds_are_left_to_the_model() -> None:
    body = dict(VALID[m.BusPosition], ts="2026-11-01T00:00:00.9999995Z")
    payload = orjson.dumps(body)
    assert _fast_row(m.BusPosition, payload) is None
    assert _model_row(m.BusPosition, payload) is not None  # the model truncates; it decides


def test_ids_are_checked_against_the_pattern() -> None:
    assert re.fullmatch(fastpath._ID, "r2") and not fastpath._id_ok("r 2") and not fastpath._id_ok("r٣")
