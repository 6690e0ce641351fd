"""Publish alert notifications on ``cw/v1/alerts/{kind}`` (QoS 1) for live consumers."""

from __future__ import annotations

from pathlib import Path

from citywatch import mqtt
from citywatch.contracts.topics import alerts_topic


class AlertPublisher:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        client_id: str,
        tls_ca: Path | None = None,
    ) -> None:
        self.mqtt = mqtt.Client(
            mqtt.Connection(
                host=host, port=port, client_id=client_id, username=username, password=password, tls_ca=tls_ca
            )
        )
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
