"""Publish alert notifications on ``cw/v1/alerts/{kind}`` (QoS 1) for live consumers."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from citywatch import broker
from citywatch.contracts.topics import PREFIX


def alerts_topic(kind: str) -> str:
    return f"{PREFIX}/alerts/{kind}"


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
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.username_pw_set(username, password)
        broker.use_tls(self.client, tls_ca)
        self.client.reconnect_delay_set(1, 30)
        self._connected = threading.Event()

        def on_connect(_c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
            if not rc.is_failure:
                self._connected.set()

        def on_disconnect(*_a: Any) -> None:
            self._connected.clear()

        self.client.on_connect = on_connect
        self.client.on_disconnect = on_disconnect
        self.client.connect_async(host, port, 30)
        self.client.loop_start()

    def __call__(self, kind: str, payload: bytes) -> None:
        if not self._connected.wait(5):
            raise ConnectionError("not connected to the broker")
        info = self.client.publish(alerts_topic(kind), payload, qos=1)
        info.wait_for_publish(5)
        if not info.is_published():
            raise TimeoutError("the broker did not acknowledge the notification")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
