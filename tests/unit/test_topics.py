from __future__ import annotations

import pytest

from citywatch.contracts.topics import DeviceKind, Stream, Topic, TopicError, parse_topic, topic_for


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("cw/v1/aq/aq-001/telemetry", Topic(DeviceKind.AIR_QUALITY, "aq-001", Stream.TELEMETRY)),
        ("cw/v1/parking/pk-01-001/state", Topic(DeviceKind.PARKING, "pk-01-001", Stream.STATE)),
        ("cw/v1/cctv/cam-1/event", Topic(DeviceKind.CCTV, "cam-1", Stream.EVENT)),
        ("cw/v1/bus/bus-0101/position", Topic(DeviceKind.BUS, "bus-0101", Stream.POSITION)),
        ("cw/v1/stop/stop-0101/request", Topic(DeviceKind.STOP, "stop-0101", Stream.REQUEST)),
        ("cw/v1/bus/bus-0101/status", Topic(DeviceKind.BUS, "bus-0101", Stream.STATUS)),
        ("cw/v1/bus/bus-0101/ack", Topic(DeviceKind.BUS, "bus-0101", Stream.ACK)),
    ],
    ids=["aq", "parking", "cctv", "bus", "stop", "status", "bus-ack"],
)
def test_parse_valid(topic: str, expected: Topic) -> None:
    assert parse_topic(topic) == expected
    assert str(expected) == topic


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("cw/v2/aq/aq-001/telemetry", "unknown topic"),
        ("cw/v1/aq/aq-001", "unknown topic"),
        ("cw/v1/aq/aq-001/telemetry/extra", "unknown topic"),
        ("cw/v1/tram/t-1/position", "unknown device kind"),
        ("cw/v1/aq/aq-001/bogus", "unknown stream"),
        ("cw/v1/aq/aq-001/position", "kind aq does not publish position"),
        ("cw/v1/aq/aq-001/ack", "kind aq does not publish ack"),
        ("cw/v1/aq/bad id/telemetry", "invalid device id"),
        ("cw/v1/aq/" + "x" * 65 + "/telemetry", "invalid device id"),
        ("cw/v1/aq//telemetry", "invalid device id"),
    ],
    ids=[
        "version",
        "short",
        "long",
        "kind",
        "stream",
        "wrong-stream",
        "ack-not-bus",
        "space",
        "too-long",
        "empty",
    ],
)
def test_parse_invalid(topic: str, reason: str) -> None:
    with pytest.raises(TopicError) as e:
        parse_topic(topic)
    assert e.value.reason == reason


def test_topic_for_defaults_to_the_data_stream() -> None:
    assert topic_for(DeviceKind.CCTV, "cam-9") == "cw/v1/cctv/cam-9/event"
    assert topic_for(DeviceKind.CCTV, "cam-9", Stream.STATUS) == "cw/v1/cctv/cam-9/status"
