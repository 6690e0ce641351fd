"""Typed device contracts: the one place that defines topics and payloads.

Simulators publish exactly these types; ingest decodes them; analytics and the
API read the rows they become.
"""

from citywatch.contracts.messages import (
    SCHEMA_VERSION,
    AirQualityReading,
    BusPosition,
    CctvEvent,
    CctvEventType,
    DeviceStatus,
    ParkingSpaceState,
    StopRequest,
    Telemetry,
    payload_model,
)
from citywatch.contracts.topics import DeviceKind, Stream, Topic, TopicError, parse_topic, topic_for

__all__ = [
    "SCHEMA_VERSION",
    "AirQualityReading",
    "BusPosition",
    "CctvEvent",
    "CctvEventType",
    "DeviceKind",
    "DeviceStatus",
    "ParkingSpaceState",
    "StopRequest",
    "Stream",
    "Telemetry",
    "Topic",
    "TopicError",
    "parse_topic",
    "payload_model",
    "topic_for",
]
