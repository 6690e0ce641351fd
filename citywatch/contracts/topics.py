"""The MQTT topic tree.

Uplink (device -> platform), one topic per device and stream::

    cw/v1/{kind}/{device_id}/{stream}

    kind    aq | parking | cctv | bus | stop
    stream  telemetry (aq), state (parking), event (cctv), position (bus),
            request (stop), status (every kind: online/offline, Last Will),
            pack (aq: a gateway's SenML pack of many stations' readings),
            count (parking: a garage's barrier-gate counter, occupied of capacity)

Downlink to a bus terminal and its acknowledgement uplink (boarding bell)::

    cw/v1/bus/{bus_id}/downlink/{channel}
    cw/v1/bus/{bus_id}/ack

Device ids are 1-64 characters of ``[A-Za-z0-9_.-]`` so that they are safe in
topics, file names, ACL lines and SQL alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

PREFIX = "cw/v1"
DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class DeviceKind(StrEnum):
    AIR_QUALITY = "aq"
    PARKING = "parking"
    CCTV = "cctv"
    BUS = "bus"
    STOP = "stop"


class Stream(StrEnum):
    TELEMETRY = "telemetry"
    STATE = "state"
    EVENT = "event"
    POSITION = "position"
    REQUEST = "request"
    STATUS = "status"
    ACK = "ack"  # a bus terminal acknowledging a boarding-bell alert
    PACK = "pack"  # a gateway's SenML pack of many readings (citywatch.contracts.senml)
    COUNT = "count"  # a garage's counter: occupied of capacity (a lot without a sensor per space)


#: Further uplink streams of some kinds.
EXTRA_STREAMS: dict[DeviceKind, frozenset[Stream]] = {
    DeviceKind.BUS: frozenset({Stream.ACK}),
    DeviceKind.AIR_QUALITY: frozenset({Stream.PACK}),
    DeviceKind.PARKING: frozenset({Stream.COUNT}),
}

#: The data stream each kind publishes besides ``status``.
DATA_STREAM: dict[DeviceKind, Stream] = {
    DeviceKind.AIR_QUALITY: Stream.TELEMETRY,
    DeviceKind.PARKING: Stream.STATE,
    DeviceKind.CCTV: Stream.EVENT,
    DeviceKind.BUS: Stream.POSITION,
    DeviceKind.STOP: Stream.REQUEST,
}


class TopicError(ValueError):
    """A topic that is not part of the citywatch tree."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"{reason}: {topic!r}")
        self.topic = topic
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Topic:
    kind: DeviceKind
    device_id: str
    stream: Stream

    def __post_init__(self) -> None:
        if not DEVICE_ID_RE.match(self.device_id):
            raise TopicError(self.device_id, "invalid device id")
        if (
            self.stream is not Stream.STATUS
            and DATA_STREAM[self.kind] is not self.stream
            and self.stream not in EXTRA_STREAMS.get(self.kind, frozenset())
        ):
            raise TopicError(str(self), f"kind {self.kind} does not publish {self.stream}")

    def __str__(self) -> str:
        return f"{PREFIX}/{self.kind}/{self.device_id}/{self.stream}"


def topic_for(kind: DeviceKind, device_id: str, stream: Stream | None = None) -> str:
    """The uplink topic of a device; its data stream unless ``stream`` is given."""
    return str(Topic(kind, device_id, stream or DATA_STREAM[kind]))


def parse_topic(topic: str) -> Topic:
    """Parse an uplink topic; raises :class:`TopicError` for anything else."""
    parts = topic.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != PREFIX:
        raise TopicError(topic, "unknown topic")
    try:
        kind = DeviceKind(parts[2])
    except ValueError:
        raise TopicError(topic, "unknown device kind") from None
    try:
        stream = Stream(parts[4])
    except ValueError:
        raise TopicError(topic, "unknown stream") from None
    return Topic(kind, parts[3], stream)


def uplink_filter(shared_group: str | None = None) -> str:
    """Subscription filter that covers every uplink topic; with ``shared_group``, as an MQTT 5 shared
    subscription (``$share/{group}/…``: the broker spreads the messages over the group's clients)."""
    f = f"{PREFIX}/+/+/+"
    return f"$share/{shared_group}/{f}" if shared_group else f


def stream_filter(kind: DeviceKind, stream: Stream) -> str:
    """Every device of ``kind``'s uplink ``stream`` (``cw/v1/bus/+/position``)."""
    return f"{PREFIX}/{kind}/+/{stream}"


def bus_downlink_filter(channel: str = "stops") -> str:
    """Every bus's downlink ``channel`` (the terminals' retained state)."""
    return f"{PREFIX}/bus/+/downlink/{channel}"


def alerts_topic(kind: str) -> str:
    """Where alert notifications are published for live consumers (``cw/v1/alerts/{kind}``)."""
    return f"{PREFIX}/alerts/{kind}"


def alerts_filter() -> str:
    return f"{PREFIX}/alerts/#"


def bus_downlink(bus_id: str, channel: str = "stops") -> str:
    return f"{PREFIX}/bus/{bus_id}/downlink/{channel}"


def bus_ack(bus_id: str) -> str:
    return f"{PREFIX}/bus/{bus_id}/ack"


def stop_reply(device_id: str) -> str:
    """Where a stop panel or the app gateway hears back about its requests."""
    return f"{PREFIX}/stop/{device_id}/downlink/reply"
