"""The MQTT broker's log, read from its ``$SYS/broker/log/#`` topics (Mosquitto's ``log_dest topic``) for
:mod:`analytics.broker_watch`. The network thread only queues each line with the time it arrived; the
analytics step takes them. A full queue drops the oldest lines and counts them (the watch is about
rates: losing some of a flood's lines does not hide the flood)."""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import replace
from datetime import UTC, datetime

import paho.mqtt.client as paho

from citywatch import mqtt

log = logging.getLogger(__name__)

LOG_TOPICS = "$SYS/broker/log/#"


class BrokerLog:
    def __init__(self, connection: mqtt.Connection, max_lines: int = 100_000) -> None:
        """``connection``: as an account that may read ``$SYS/broker/log/#`` (the platform's)."""
        self._lines: deque[tuple[str, datetime]] = deque(maxlen=max_lines)
        self._lock = threading.Lock()
        self.dropped = 0
        self.mqtt = mqtt.Client(replace(connection, subscriptions=((LOG_TOPICS, 0),)), self._on_message)

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        line = msg.payload.decode("utf-8", "replace")
        with self._lock:
            if len(self._lines) == self._lines.maxlen:
                self.dropped += 1
            self._lines.append((line, datetime.now(UTC)))

    def start(self) -> None:
        self.mqtt.start()

    def wait_reading(self, timeout: float) -> bool:
        """Whether the broker granted the subscription to its log within ``timeout``: lines it logs from then
        on reach :meth:`take` (before that, they are not sent to this client at all)."""
        return self.mqtt.subscribed.wait(timeout)

    def take(self) -> list[tuple[str, datetime]]:
        """The lines that arrived since the last call, oldest first."""
        with self._lock:
            out = list(self._lines)
            self._lines.clear()
        return out

    def close(self) -> None:
        self.mqtt.stop()
