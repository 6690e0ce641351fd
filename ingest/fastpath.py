"""A fast path for the three payloads that make up most of a city's traffic (pure).

Bus positions, air-quality readings and parking-space states are decoded by msgspec (in C, about four
times faster than the pydantic models) into structs that mirror the contract models in
:mod:`citywatch.contracts.messages`. The fast path only ever *accepts*; a payload it does not take
in full — anything unusual, anything wrong — goes to the pydantic model, which decides and words the
refusal. So the contract stays the pydantic model, and the fast path must never accept what the model
would refuse, nor read a value differently:

* every numeric constraint is the model's (``tests/unit/test_fastpath.py`` compares the two JSON schemas);
  string patterns are checked after decoding (msgspec's pattern checks cost more than the model),
  ids through a small cache, as a city repeats the same few thousand all day;
* ``ts`` is taken only in the strict RFC 3339 form devices send (at most microseconds, an offset or
  ``Z``), which both read identically (msgspec's own datetime rounds extra digits, the model truncates);
* names with a leading or trailing space, which the model would strip, are left to the model;
* a property test holds the two to the same rows on valid, mutated and hostile payloads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from citywatch.contracts import messages as m

_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # the models' Id
# the strict RFC 3339 form devices send; ASCII digits only (``\d`` would take any script's digits)
_TS = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


@lru_cache(maxsize=1 << 14)
def _id_ok(s: str) -> bool:
    """An ``Id`` (route, lot): remembered, as a city has a few thousand and repeats them all day."""
    return _ID.fullmatch(s) is not None


@lru_cache(maxsize=1 << 14)
def _label_ok(s: str) -> bool:
    """A ``Label`` the model would keep as it is: 1-64 characters, nothing to strip."""
    return 1 <= len(s) <= 64 and s == s.strip()


def _f(lo: float, hi: float) -> Any:
    return Annotated[float, Meta(ge=lo, le=hi)]


class _Base(msgspec.Struct, forbid_unknown_fields=True):
    device_id: str  # must equal the topic's, which the topic parser already held to the Id pattern
    ts: str  # held to _TS, then replaced by its datetime.fromisoformat (see decode_fast)
    seq: Annotated[int, Meta(ge=0, le=2**62)]


class Aq(_Base, kw_only=True):
    v: Literal[1] = 1
    pm10: _f(0, 5000) | None = None  # type: ignore[valid-type]
    pm25: _f(0, 5000) | None = None  # type: ignore[valid-type]
    o3: _f(0, 10) | None = None  # type: ignore[valid-type]
    no2: _f(0, 10) | None = None  # type: ignore[valid-type]
    co: _f(0, 1000) | None = None  # type: ignore[valid-type]
    so2: _f(0, 10) | None = None  # type: ignore[valid-type]
    temp_c: _f(-60, 70) | None = None  # type: ignore[valid-type]
    rh: _f(0, 100) | None = None  # type: ignore[valid-type]


class Parking(_Base, kw_only=True):
    v: Literal[1] = 1
    lot_id: str  # _id_ok
    space_id: str  # _label_ok
    occupied: bool
    reason: Literal["change", "heartbeat"] = "change"
    battery_pct: _f(0, 100) | None = None  # type: ignore[valid-type]
    rssi_dbm: _f(-150, 0) | None = None  # type: ignore[valid-type]


class Bus(_Base, kw_only=True):
    v: Literal[1] = 1
    route_id: str  # _id_ok
    lat: _f(-90, 90)  # type: ignore[valid-type]
    lon: _f(-180, 180)  # type: ignore[valid-type]
    speed_kmh: _f(0, 200)  # type: ignore[valid-type]
    heading_deg: Annotated[float, Meta(ge=0, lt=360)]
    door_open: bool


def _parking_ok(p: Parking) -> bool:
    return _id_ok(p.lot_id) and _label_ok(p.space_id)


def _bus_ok(p: Bus) -> bool:
    return _id_ok(p.route_id)


@dataclass(frozen=True)
class Fast:
    """How one model's payloads take the fast path: its mirror, and the string constraints msgspec was
    not asked to check."""

    struct: type[msgspec.Struct]
    check: Callable[[Any], bool] | None = None
    decode: Callable[[bytes], Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "decode", msgspec.json.Decoder(self.struct).decode)


#: contract model -> its fast path (the models without one always take the pydantic path)
FAST: dict[type[Any], Fast] = {
    m.AirQualityReading: Fast(Aq),
    m.ParkingSpaceState: Fast(Parking, _parking_ok),
    m.BusPosition: Fast(Bus, _bus_ok),
}


def decode_fast(fast: Fast, payload: bytes, device_id: str) -> Any | None:
    """The payload, when the fast path takes it, with ``ts`` read into a datetime so that it reads like
    the model (and the model's row maker in :mod:`ingest.rows` serves both); None: ask the model.
    ``device_id`` is the topic's (already held to the Id pattern by the topic parser); the payload
    must name it."""
    try:
        p = fast.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if (
        p.device_id != device_id
        or _TS.fullmatch(p.ts) is None
        or (fast.check is not None and not fast.check(p))
    ):
        return None
    try:
        p.ts = datetime.fromisoformat(p.ts)
    except ValueError:  # a month 13, an hour 25: the model words it
        return None
    return p
