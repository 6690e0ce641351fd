"""The MQTT broker's log, read from its ``$SYS/broker/log/#`` topics (Mosquitto's ``log_dest topic``) for
:mod:`analytics.broker_watch`. The network thread only queues each line with the time it arrived; the
analytics step takes them. A full queue drops the oldest lines and counts them (the watch is about
rates: losing some of a flood's lines does not hide the flood).

Mosquitto logs a publish its ACL refused at its debug level only, and never puts debug lines on the
topics: where the broker's log file is given (and its debug level on), the refusals are read from the
file's new lines at each step too."""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho

from citywatch import mqtt

log = logging.getLogger(__name__)

LOG_TOPICS = "$SYS/broker/log/#"
REFUSED_MARK = "Denied PUBLISH"  # the file's lines read: the refused publishes, which no topic carries


class BrokerLog:
    def __init__(
        self, connection: mqtt.Connection, max_lines: int = 100_000, file: Path | None = None
    ) -> None:
        """``connection``: as an account that may read ``$SYS/broker/log/#`` (the platform's); ``file``:
        the broker's log file, for the refused publishes (read from its end as it is when this starts)."""
        self._lines: deque[tuple[str, datetime]] = deque(maxlen=max_lines)
        self._lock = threading.Lock()
        self.dropped = 0
        self.mqtt = mqtt.Client(replace(connection, subscriptions=((LOG_TOPICS, 0),)), self._on_message)
        self.file = file
        self._offset = file.stat().st_size if file is not None and file.exists() else 0

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
        """The lines that arrived since the last call, oldest first (then the file's refused publishes)."""
        with self._lock:
            out = list(self._lines)
            self._lines.clear()
        return out + self._refused_in_file()

    def _refused_in_file(self) -> list[tuple[str, datetime]]:
        """The ``Denied PUBLISH`` lines the log file gained since the last call (from its start again once
        it was rotated: shorter than read)."""
        if self.file is None:
            return []
        try:
            with self.file.open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                if size < self._offset:
                    self._offset = 0
                f.seek(self._offset)
                data = f.read(size - self._offset)
        except OSError as e:
            log.warning("broker log file %s not read: %s", self.file, e)
            return []
        whole = data.rfind(b"\n") + 1  # a line still being written waits for the next step
        self._offset += whole
        now = datetime.now(UTC)
        return [
            (line, now)
            for line in data[:whole].decode("utf-8", "replace").splitlines()
            if REFUSED_MARK in line
        ]

    def close(self) -> None:
        self.mqtt.stop()
