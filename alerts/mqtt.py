"""Publish alert notifications on ``cw/v1/alerts/{kind}`` (QoS 1) for live consumers."""

from __future__ import annotations

from citywatch import mqtt
from citywatch.contracts.topics import alerts_topic


class AlertPublisher:
    def __init__(self, connection: mqtt.Connection) -> None:
        """``connection``: as an account that may publish on ``cw/v1/alerts/#`` (the platform's)."""
        self.mqtt = mqtt.Client(connection)
        self.mqtt.start()

    def __call__(self, kind: str, payload: bytes) -> None:
        if not self.mqtt.wait_connected(5):
            raise ConnectionError("not connected to the broker")
        info = self.mqtt.publish(alerts_topic(kind), payload, qos=1)
        info.wait_for_publish(5)
        if not info.is_published():
            raise TimeoutError("the broker did not acknowledge the notification")

    def close(self) -> None:
        self.mqtt.stop()
