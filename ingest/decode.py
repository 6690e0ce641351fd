"""Decode and validate one MQTT message against the contracts (pure).

The result is either :class:`Accepted` (a row for a stream table) or
:class:`Rejected` (a dead letter with a reason). Nothing here raises on input.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import ValidationError

from citywatch.contracts.messages import Telemetry, payload_model
from citywatch.contracts.topics import DeviceKind, Stream, TopicError, parse_topic
from ingest.rows import ROW_OF, Row, TableSpec


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
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    kind: DeviceKind
    active: bool = True


@dataclass(frozen=True, slots=True)
class Limits:
    max_payload_bytes: int = 65536
    max_future: timedelta = timedelta(minutes=5)
    max_past: timedelta = timedelta(days=35)


@dataclass(frozen=True, slots=True)
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


Decoded = Accepted | Rejected


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
) -> Decoded:
    if len(payload) > limits.max_payload_bytes:
        return Rejected(Reason.OVERSIZE, f"{len(payload)} bytes > {limits.max_payload_bytes}")
    try:
        t = parse_topic(topic.decode("utf-8"))
    except UnicodeDecodeError:
        return Rejected(Reason.BAD_TOPIC, "topic is not UTF-8")
    except TopicError as e:
        return Rejected(Reason.BAD_TOPIC, e.reason)
    info = registry.get(t.device_id)
    if info is None:
        return Rejected(Reason.UNKNOWN_DEVICE, f"{t.device_id} is not in the device registry", t.device_id)
    if not info.active:
        return Rejected(Reason.RETIRED_DEVICE, f"{t.device_id} is retired", t.device_id)
    if info.kind is not t.kind:
        return Rejected(
            Reason.WRONG_KIND, f"{t.device_id} is a {info.kind} device, not {t.kind}", t.device_id
        )
    model = payload_model(t.kind, t.stream)
    try:
        msg = model.model_validate_json(payload)
    except ValidationError as e:
        reason, detail = _describe(e)
        return Rejected(reason, detail, t.device_id)
    if msg.device_id != t.device_id:
        return Rejected(
            Reason.DEVICE_MISMATCH, f"payload device_id {msg.device_id} on {t.device_id}'s topic", t.device_id
        )
    if msg.ts - received_at > limits.max_future:
        return Rejected(Reason.CLOCK_FUTURE, f"ts {msg.ts.isoformat()} is ahead of receive time", t.device_id)
    if received_at - msg.ts > limits.max_past:
        return Rejected(
            Reason.CLOCK_PAST, f"ts {msg.ts.isoformat()} is older than {limits.max_past}", t.device_id
        )
    table, to_row = ROW_OF[model]
    seq = msg.seq if isinstance(msg, Telemetry) else None
    return Accepted(table, to_row(msg, received_at), t.device_id, t.stream, seq, msg.ts)
