"""Decode and validate one MQTT message against the contracts (pure).

The result is either :class:`Accepted` (a row for a stream table) or
:class:`Rejected` (a dead letter with a reason). Nothing here raises on input.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, cast

import orjson
from pydantic import ValidationError

from citywatch.contracts.messages import Telemetry, payload_model
from citywatch.contracts.senml import PackError, parse_pack
from citywatch.contracts.topics import DeviceKind, Stream, Topic, TopicError, parse_topic
from ingest.fastpath import FAST, Fast, decode_fast
from ingest.rows import AIR_QUALITY, ROW_OF, Row, TableSpec, aq_row


class Reason(StrEnum):
    OVERSIZE = "oversize"
    BAD_TOPIC = "bad_topic"
    UNKNOWN_DEVICE = "unknown_device"
    RETIRED_DEVICE = "retired_device"
    WRONG_KIND = "wrong_kind"
    MALFORMED_JSON = "malformed_json"
    NON_FINITE = "non_finite"
    INVALID_PAYLOAD = "invalid_payload"
    UNSUPPORTED_VERSION = "unsupported_version"
    DEVICE_MISMATCH = "device_mismatch"
    CLOCK_FUTURE = "clock_future"
    CLOCK_PAST = "clock_past"
    RATE_LIMITED = "rate_limited"
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    kind: DeviceKind
    active: bool = True
    gateway: str | None = None  # the gateway that may send this device's readings in its packs


@dataclass(frozen=True, slots=True)
class Limits:
    max_payload_bytes: int = 65536
    max_future: timedelta = timedelta(minutes=5)
    max_past: timedelta = timedelta(days=35)


@dataclass(slots=True)  # not frozen: made once per reading, and frozen dataclasses are slow to make
class Accepted:
    table: TableSpec
    row: Row
    device_id: str
    stream: Stream
    seq: int | None
    time: datetime


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: Reason
    detail: str
    device_id: str | None = None
    payload: bytes | None = (
        None  # what the dead letter keeps, when not the whole message (one reading of a pack)
    )


Decoded = Accepted | Rejected

_SEQUENCED = frozenset(model for model in ROW_OF if issubclass(model, Telemetry))  # payloads with a seq

# asked once per reading that passed every other check: may this device send a reading stamped at this
# time, arriving now (both epoch seconds)? ``None``: no flood control. See :mod:`ingest.ratelimit`.
Admit = Callable[[str, float, float], bool]


def _flooding(device_id: str) -> Rejected:
    return Rejected(Reason.RATE_LIMITED, f"{device_id} is sending faster than its rate limit", device_id)


def digest(topic: bytes, payload: bytes) -> bytes:
    """Identity of a dead letter: identical bytes on the same topic are one message."""
    return hashlib.blake2b(topic + b"\x00" + payload, digest_size=16).digest()


def _describe(err: ValidationError) -> tuple[Reason, str]:
    errors = err.errors(include_url=False)
    if not errors:
        return Reason.INVALID_PAYLOAD, str(err)[:500]
    types = {e["type"] for e in errors}
    if types & {"json_invalid", "json_type"}:
        reason = Reason.MALFORMED_JSON
    elif "finite_number" in types or any(
        isinstance(e.get("input"), float) and not math.isfinite(e["input"]) for e in errors
    ):
        reason = Reason.NON_FINITE
    elif any(e["loc"] == ("v",) for e in errors):
        reason = Reason.UNSUPPORTED_VERSION
    else:
        reason = Reason.INVALID_PAYLOAD
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}" for e in errors[:5]]
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return reason, ("; ".join(parts) + more)[:500]


def decode(
    topic: bytes,
    payload: bytes,
    received_at: datetime,
    registry: Mapping[str, DeviceInfo],
    limits: Limits,
    admit: Admit | None = None,
) -> Decoded:
    if len(payload) > limits.max_payload_bytes:
        return Rejected(Reason.OVERSIZE, f"{len(payload)} bytes > {limits.max_payload_bytes}")
    route = _route(topic)
    if isinstance(route, Rejected):
        return route
    t, codec = route
    refused = _device_check(t.device_id, t.kind, registry)
    if refused:
        return refused
    if codec is None:
        return Rejected(
            Reason.BAD_TOPIC, "a pack holds many readings: decode it with decode_all", t.device_id
        )
    arrived = received_at.timestamp()
    if codec.fast is not None:  # most of the traffic: msgspec, in C; anything unusual goes to the model
        p = decode_fast(codec.fast, payload, t.device_id)
        if p is not None and _within(stamped := p.ts.timestamp(), arrived, limits):
            if admit is not None and not admit(t.device_id, stamped, arrived):
                return _flooding(t.device_id)
            return Accepted(codec.table, codec.to_row(p, received_at), t.device_id, t.stream, p.seq, p.ts)
    try:
        msg = codec.validate(payload)
    except ValidationError as e:
        reason, detail = _describe(e)
        return Rejected(reason, detail, t.device_id)
    if msg.device_id != t.device_id:
        return Rejected(
            Reason.DEVICE_MISMATCH, f"payload device_id {msg.device_id} on {t.device_id}'s topic", t.device_id
        )
    stamped = msg.ts.timestamp()
    if not _within(stamped, arrived, limits):  # the exact check, which also words the refusal
        late = _clock_check(msg.ts, received_at, limits, t.device_id)
        if late:
            return late
    if admit is not None and not admit(t.device_id, stamped, arrived):
        return _flooding(t.device_id)
    seq = cast(Telemetry, msg).seq if codec.sequenced else None  # (isinstance on a model costs µs)
    return Accepted(codec.table, codec.to_row(msg, received_at), t.device_id, t.stream, seq, msg.ts)


def _within(stamped: float, arrived: float, limits: Limits) -> bool:
    """Clearly inside the clock limits, in floats (cheap); at or past a limit, :func:`_clock_check` decides."""
    return arrived - limits.max_past.total_seconds() < stamped < arrived + limits.max_future.total_seconds()


@dataclass(frozen=True, slots=True)
class _Codec:
    """How a topic's payloads become rows: its model, the model's own JSON validator (called directly),
    table, row maker, and the msgspec fast path for the models that have one."""

    validate: Callable[[bytes], Any]
    table: TableSpec
    to_row: Callable[[Any, datetime], Row]
    sequenced: bool
    fast: Fast | None


_Route = tuple[Topic, _Codec | None]  # no codec: a gateway pack (decode_all)


@lru_cache(maxsize=1 << 16)
def _route(topic: bytes) -> _Route | Rejected:
    """The parsed topic and its codec, or why it is refused. Remembered: a city's devices publish on a few
    thousand topics over and over, and working this out costs more than decoding a payload. Bounded,
    so a flood of random topics only evicts."""
    t = _topic(topic)
    if isinstance(t, Rejected):
        return t
    if t.stream is Stream.PACK:
        return t, None
    model = payload_model(t.kind, t.stream)
    table, to_row = ROW_OF[model]
    validate = model.__pydantic_validator__.validate_json
    return t, _Codec(validate, table, to_row, model in _SEQUENCED, FAST.get(model))


def _topic(topic: bytes) -> Topic | Rejected:
    """The parsed topic, or why it is refused."""
    try:
        return parse_topic(topic.decode("utf-8"))
    except UnicodeDecodeError:
        return Rejected(Reason.BAD_TOPIC, "topic is not UTF-8")
    except TopicError as e:
        return Rejected(Reason.BAD_TOPIC, e.reason)


def _device_check(device_id: str, kind: DeviceKind, registry: Mapping[str, DeviceInfo]) -> Rejected | None:
    info = registry.get(device_id)
    if info is None:
        return Rejected(Reason.UNKNOWN_DEVICE, f"{device_id} is not in the device registry", device_id)
    if not info.active:
        return Rejected(Reason.RETIRED_DEVICE, f"{device_id} is retired", device_id)
    if info.kind is not kind:
        return Rejected(Reason.WRONG_KIND, f"{device_id} is a {info.kind} device, not {kind}", device_id)
    return None


def _clock_check(ts: datetime, received_at: datetime, limits: Limits, device_id: str) -> Rejected | None:
    if ts - received_at > limits.max_future:
        return Rejected(Reason.CLOCK_FUTURE, f"ts {ts.isoformat()} is ahead of receive time", device_id)
    if received_at - ts > limits.max_past:
        return Rejected(Reason.CLOCK_PAST, f"ts {ts.isoformat()} is older than {limits.max_past}", device_id)
    return None


def decode_all(
    topic: bytes,
    payload: bytes,
    received_at: datetime,
    registry: Mapping[str, DeviceInfo],
    limits: Limits,
    admit: Admit | None = None,
) -> list[Decoded]:
    """Every reading a message carries: one for a device's own message, many for a gateway's SenML pack
    (each reading accepted or refused on its own; a pack that cannot be read at all is one dead letter)."""
    if not topic.endswith(b"/pack"):
        return [decode(topic, payload, received_at, registry, limits, admit)]
    if len(payload) > limits.max_payload_bytes:
        return [Rejected(Reason.OVERSIZE, f"{len(payload)} bytes > {limits.max_payload_bytes}")]
    route = _route(topic)
    if isinstance(route, Rejected):
        return [route]
    t = route[0]
    refused = _device_check(t.device_id, t.kind, registry)
    if refused:
        return [refused]
    return _unpack(t, payload, received_at, registry, limits, admit)


def _unpack(
    t: Topic,
    payload: bytes,
    received_at: datetime,
    registry: Mapping[str, DeviceInfo],
    limits: Limits,
    admit: Admit | None,
) -> list[Decoded]:
    gateway = t.device_id
    try:
        readings, bad = parse_pack(payload)
    except PackError as e:
        reason = Reason.MALFORMED_JSON if str(e).startswith("not JSON") else Reason.INVALID_PAYLOAD
        return [Rejected(reason, f"SenML pack: {e}"[:500], gateway)]
    out: list[Decoded] = [
        Rejected(
            Reason.INVALID_PAYLOAD,
            f"SenML pack: {b.detail}"[:500],
            b.device_id or gateway,
            _records(b.records),
        )
        for b in bad
    ]
    tz = received_at.tzinfo
    now = received_at.timestamp()
    checked: dict[
        str, Rejected | None
    ] = {}  # device -> why its readings are refused (a pack repeats devices)
    # _within's bounds, worked out once per pack rather than once per reading
    earliest, latest = now - limits.max_past.total_seconds(), now + limits.max_future.total_seconds()
    for r in readings:
        if r.device_id in checked:
            refused = checked[r.device_id]
        else:
            refused = _device_check(r.device_id, DeviceKind.AIR_QUALITY, registry)
            if refused is None and r.device_id != gateway and registry[r.device_id].gateway != gateway:
                refused = Rejected(
                    Reason.DEVICE_MISMATCH, f"{r.device_id} is not behind gateway {gateway}", r.device_id
                )
            checked[r.device_id] = refused
        ts = datetime.fromtimestamp(r.time, tz)
        if refused is None and not earliest < r.time < latest:
            refused = _clock_check(ts, received_at, limits, r.device_id)
        if refused is None and admit is not None and not admit(r.device_id, r.time, now):
            refused = _flooding(r.device_id)
        if refused is not None:
            body = {"bn": f"{r.device_id}:", "bt": r.time, "seq": r.seq, **r.values}
            out.append(Rejected(refused.reason, refused.detail, r.device_id, _records([body])))
            continue
        row = aq_row(r.device_id, ts, r.seq, r.values, received_at)
        out.append(Accepted(AIR_QUALITY, row, r.device_id, Stream.TELEMETRY, r.seq, ts))
    return out


def _records(records: list[dict[str, object]]) -> bytes:
    return orjson.dumps(records)
