"""Gateway packs: many air-quality readings in one message, as SenML (RFC 8428) JSON.

A gateway (a registered ``aq`` device) publishes on ``cw/v1/aq/{gateway}/pack``
a SenML pack whose records name their device and measurement as
``{device_id}:{measurement}`` (usually through the base name ``bn``)::

    [{"bn": "aq-0001:", "bt": 1790000000, "n": "seq", "v": 41},
     {"n": "pm25", "u": "ug/m3", "v": 18.5}, {"n": "pm10", "u": "ug/m3", "v": 33},
     {"bn": "aq-0002:", "n": "seq", "v": 7}, {"n": "o3", "u": "ppm", "v": 0.031}]

Records of one device at one resolved time (``bt + t``, absolute epoch seconds)
form one reading, which is held to exactly the rules of a single
:class:`~citywatch.contracts.messages.AirQualityReading` (ranges, finite
values, a ``seq``). Units, when given, must be the SenML units below. A bad
reading is refused on its own with a reason; the pack's other readings stand.

Only the parts of SenML a sensor gateway needs are accepted: ``bn bt bu bver n
u v t`` (and ``ut``/``s`` are ignored); a reading with ``vs``/``vb``/``vd`` or
a relative time is refused, and a must-understand field (a name ending in
``_``) rejects the whole pack, as RFC 8428 §4.4 requires. ``bu`` does not
apply to ``seq``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import annotated_types
import msgspec
import orjson

from citywatch.contracts.messages import AirQualityReading
from citywatch.contracts.topics import DEVICE_ID_RE

#: measurement name -> (reading field, SenML unit or None for a bare number)
MEASUREMENTS: dict[str, tuple[str, str | None]] = {
    "seq": ("seq", None),
    "pm10": ("pm10", "ug/m3"),
    "pm25": ("pm25", "ug/m3"),
    "o3": ("o3", "ppm"),
    "no2": ("no2", "ppm"),
    "co": ("co", "ppm"),
    "so2": ("so2", "ppm"),
    "temp": ("temp_c", "Cel"),
    "rh": ("rh", "%RH"),
}
MAX_RECORDS = 5000
_ABSOLUTE = 2**28  # RFC 8428 §4.5.3: smaller times are relative to "now"
_LAST = 253_402_300_800.0  # 10000-01-01T00:00:00Z
_KNOWN = frozenset({"bn", "bt", "bu", "bver", "n", "u", "v", "t", "ut", "s", "bs"})


def _bounds() -> dict[str, tuple[float, float]]:
    """The ranges of :class:`AirQualityReading`: one source of truth for both ways in."""
    out: dict[str, tuple[float, float]] = {}
    for name, f in AirQualityReading.model_fields.items():
        # Field(ge=, le=) directly, or inside ``Annotated[float, Field(...)] | None``
        metas = list(f.metadata)
        for arg in getattr(f.annotation, "__args__", ()):
            for info in getattr(arg, "__metadata__", ()):
                metas += getattr(info, "metadata", [])
        lo = max([float(x.ge) for x in metas if isinstance(x, annotated_types.Ge)], default=-math.inf)  # type: ignore[arg-type]
        hi = min([float(x.le) for x in metas if isinstance(x, annotated_types.Le)], default=math.inf)  # type: ignore[arg-type]
        out[name] = (lo, hi)
    return out


BOUNDS = _bounds()


class PackError(ValueError):
    """The pack as a whole cannot be read (not JSON, not a SenML array, too many records)."""


@dataclass(slots=True)  # made once per reading: not frozen, which is slow to make
class PackReading:
    device_id: str
    time: float  # epoch seconds
    seq: int
    values: dict[str, float]  # reading field -> value


@dataclass(frozen=True, slots=True)
class BadReading:
    device_id: str | None
    time: float | None
    detail: str
    records: list[dict[str, Any]]  # the reading's records, names and times resolved


class _Record(msgspec.Struct, forbid_unknown_fields=True):
    """A SenML record of the shape a well-behaved gateway sends (types checked by msgspec, in C)."""

    bn: str | None = None
    bt: float | None = None
    bu: str | None = None
    bver: int | None = None
    n: str | None = None
    u: str | None = None
    v: float | None = None
    t: float | None = None
    ut: float | None = None
    s: float | None = None
    bs: float | None = None


_DECODER = msgspec.json.Decoder(list[_Record])


def parse_pack(payload: bytes) -> tuple[list[PackReading], list[BadReading]]:
    """Readings of a pack, and the readings refused with why; raises :class:`PackError` for the whole pack.

    A pack in which everything is right takes a fast path; anything else is read again by the careful
    parser, which finds and names each problem (both give the same readings: a property test checks)."""
    fast = _parse_fast(payload)
    return fast if fast is not None else _parse_carefully(payload)


# a record's name, resolved: (device, reading field, unit, lowest, highest); None when the fast path must
# not take it (an unknown measurement, a malformed device id). Keyed by base name, then name: a gateway
# repeats the same few hundred names in every pack, so each is worked out once. Bounded: cleared when full.
_Resolved = tuple[str, str, str | None, float, float]
_NAMES: dict[str, dict[str, _Resolved | None]] = {}
_NAMES_MAX = 20_000


def _resolve(bn: str, n: str) -> _Resolved | None:
    device, _, measurement = (bn + n).rpartition(":")
    spec = MEASUREMENTS.get(measurement)
    if spec is None or DEVICE_ID_RE.match(device) is None:
        return None
    field, unit = spec
    return (device, field, unit, *BOUNDS[field])


def _names(bn: str) -> dict[str, _Resolved | None]:
    names = _NAMES.get(bn)
    if names is None:
        if len(_NAMES) >= _NAMES_MAX:
            _NAMES.clear()
        names = _NAMES[bn] = {}
    return names


def _parse_fast(payload: bytes) -> tuple[list[PackReading], list[BadReading]] | None:
    """The readings of a flawless pack; None at the first thing that is not (the careful parser takes over)."""
    try:
        recs = _DECODER.decode(payload)
    except msgspec.DecodeError:
        return None
    if not recs or len(recs) > MAX_RECORDS:
        return None
    bn, bt, bu = "", 0.0, None
    names = _names(bn)
    groups: dict[tuple[str, float], dict[str, float]] = {}
    for r in recs:
        if r.bver is not None and r.bver not in (5, 10):
            return None
        if r.bn is not None and r.bn != bn:
            bn = r.bn
            names = _names(bn)
        if r.bt is not None:
            bt = r.bt
        if r.bu is not None:
            bu = r.bu
        n, v = r.n, r.v
        if n is None or v is None:
            if n is None and v is None:
                continue  # a base-only record
            return None
        if n in names:
            resolved = names[n]
        else:
            resolved = names[n] = _resolve(bn, n)
        if resolved is None:
            return None
        device, field, unit, lo, hi = resolved
        u = r.u if r.u is not None else (None if field == "seq" else bu)
        if (u is not None and u != unit) or not lo <= v <= hi:
            return None
        key = (device, bt if r.t is None else bt + r.t)
        values = groups.get(key)
        if values is None:
            values = groups[key] = {}
        elif field in values:
            return None
        values[field] = v
    out: list[PackReading] = []
    for (device, when), values in groups.items():
        seq = values.pop("seq", None)
        if seq is None or seq != int(seq) or not _ABSOLUTE <= when < _LAST:
            return None
        out.append(PackReading(device, when, int(seq), values))
    return (out, []) if out else None


def _parse_carefully(payload: bytes) -> tuple[list[PackReading], list[BadReading]]:
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise PackError(f"not JSON: {e}") from None
    if not isinstance(doc, list) or not doc:
        raise PackError("a SenML pack is a non-empty JSON array of records")
    if len(doc) > MAX_RECORDS:
        raise PackError(f"{len(doc)} records > {MAX_RECORDS}")
    bn, bt, bu = "", 0.0, None
    # (device, time) -> [(record index, record, measurement, time)]; a reading's records are kept as sent,
    # and only a refused reading's are resolved into its dead letter
    groups: dict[tuple[str, float], list[tuple[int, dict[str, Any], str, float]]] = {}
    problems: dict[tuple[str, float], str] = {}
    loose: list[BadReading] = []
    for i, rec in enumerate(doc):
        if type(rec) is not dict:
            raise PackError(f"record {i} is not an object")
        extra = rec.keys() - _KNOWN
        if extra:
            must = sorted(k for k in extra if k.endswith("_"))
            if must:  # RFC 8428 §4.4: a must-understand field not understood rejects the whole pack
                raise PackError(f"record {i}: must-understand field {must[0]!r} not supported")
        if "bver" in rec and rec["bver"] not in (5, 10):
            raise PackError(f"record {i}: SenML version {rec['bver']!r} not supported")
        if "bn" in rec:
            if type(rec["bn"]) is not str:
                raise PackError(f"record {i}: bn must be a string")
            bn = rec["bn"]
        if "bt" in rec:
            if not _number(rec["bt"]):
                raise PackError(f"record {i}: bt must be a finite number")
            bt = float(rec["bt"])
        if "bu" in rec:
            bu = rec["bu"]
        n = rec.get("n")
        if n is None and "v" not in rec:
            continue  # a base-only record
        if n is None:
            n = ""
        elif type(n) is not str:
            loose.append(BadReading(None, None, f"record {i}: n must be a string", [rec]))
            continue
        t = rec.get("t")
        if t is None:
            when = bt
        elif _number(t):
            when = bt + float(t)
        else:
            loose.append(BadReading(None, None, f"record {i}: t must be a finite number", [rec]))
            continue
        device, _, measurement = (bn + n).rpartition(":")
        if not DEVICE_ID_RE.match(device):
            loose.append(
                BadReading(
                    None,
                    when,
                    f"record {i}: name {bn + n!r} is not 'device_id:measurement'",
                    [_resolved(rec, bn + n, when)],
                )
            )
            continue
        key = (device, when)
        recs = groups.get(key)
        if recs is None:
            recs = groups[key] = []
        recs.append((i, rec, measurement, when))
        if key in problems:
            continue
        unit = rec.get("u", None if measurement == "seq" else bu)  # a count has no unit: bu is not for seq
        problem = (
            f"unsupported field {sorted(extra)[0]!r}"
            if extra
            else _check(measurement, unit, rec.get("v"), when)
        )
        if problem:
            problems[key] = f"record {i}: {problem}"
    if not groups and not loose:
        raise PackError("the pack holds no readings")
    good: list[PackReading] = []
    bad = loose
    for (device, when), recs in groups.items():
        why = problems.get((device, when))
        values: dict[str, float] = {}
        if why is None:
            for _i, r, ms, _w in recs:
                field = MEASUREMENTS[ms][0]
                if field in values:
                    why = f"{field} given twice for one reading"
                    break
                values[field] = float(r["v"])
        seq = values.pop("seq", None)
        if why is None and seq is not None:
            good.append(PackReading(device, when, int(seq), values))
            continue
        resolved = [_resolved(r, f"{device}:{ms}", w) for _i, r, ms, w in recs]
        bad.append(BadReading(device, when, why or "a reading needs a 'seq' record", resolved))
    return good, bad


def _resolved(rec: dict[str, Any], name: str, when: float) -> dict[str, Any]:
    return {"n": name, "t": when, **{k: rec[k] for k in ("u", "v") if k in rec}}


def _number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _check(measurement: str, unit: object, value: object, when: float) -> str | None:
    spec = MEASUREMENTS.get(measurement)
    if spec is None:
        return f"unknown measurement {measurement!r} (known: {', '.join(MEASUREMENTS)})"
    field, want = spec
    if unit is not None and unit != want:
        return f"{measurement} in {unit!r}, expected {want or 'no unit'!r}"
    if not _number(value):
        return f"{measurement}: v must be a finite number"
    assert isinstance(value, int | float)
    lo, hi = BOUNDS[field]
    if not lo <= value <= hi:
        return f"{measurement} = {value} outside [{lo:g}, {hi:g}]"
    if field == "seq" and value != int(value):
        return "seq must be a whole number"
    if when < _ABSOLUTE:
        return "relative times are not supported: give bt/t as epoch seconds"
    if not when < _LAST:
        return f"time {when:g} is beyond the year 9999"
    return None


def to_pack(readings: Iterable[AirQualityReading]) -> bytes:
    """A SenML pack of readings (what a gateway sends): one base record per reading."""
    recs: list[dict[str, Any]] = []
    for r in readings:
        first = True
        for measurement, (field, unit) in MEASUREMENTS.items():
            v = getattr(r, field)
            if v is None:
                continue
            rec: dict[str, Any] = {"n": measurement, "v": v}
            if unit:
                rec["u"] = unit
            if first:
                rec = {"bn": f"{r.device_id}:", "bt": r.ts.timestamp(), **rec}
                first = False
            recs.append(rec)
    return orjson.dumps(recs)


def reading_time(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)
