"""Ingest's subscription (on :mod:`citywatch.mqtt`): QoS 1, a persistent session and manual
acknowledgements.

The network callback does no I/O: it hands each message to ``on_message``
(which decodes and enqueues) and returns. The writer acknowledges a message
with :meth:`Subscriber.ack` only after its batch has committed. Each message
remembers the connection it arrived on; an acknowledgement for an older
connection is skipped (the broker redelivers that message and the store
de-duplicates it), because packet ids are only meaningful per connection.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.client import PUBACK

from citywatch import mqtt

log = logging.getLogger(__name__)


# paho queues an outgoing packet with this (private) method; ack() is a thin wrapper around it. If a
# paho release renames it, acknowledgements fall back to ack() one at a time.
_QUEUE_PACKET: Callable[..., Any] | None = getattr(paho.Client, "_packet_queue", None)
_PUBACK = struct.Struct("!BBH")  # fixed header (PUBACK), remaining length 2, packet id


def pubacks(mids: Iterable[int]) -> bytes:
    """PUBACK packets (success) for these packet ids, back to back: the same bytes in MQTT 3.1.1 and 5."""
    pack = _PUBACK.pack
    return b"".join([pack(PUBACK, 2, mid) for mid in mids])


@dataclass(slots=True)  # made once per message: a frozen dataclass is four times slower to make
class Inbound:
    topic: bytes
    payload: bytes
    mid: int
    qos: int
    generation: int
    received_at: float  # time.time()


class Subscriber:
    """Ingest's QoS 1 subscription: a persistent session, manual acknowledgements after the commit, and
    each message stamped with the connection (generation) it arrived on."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        username: str,
        password: str,
        topic_filter: str,
        on_message: Callable[[Inbound], None],
        receive_maximum: int = 20000,
        session_expiry_s: int = 7 * 86400,
        keepalive_s: int = 30,
        tls_ca: Path | None = None,
    ) -> None:
        self._filter = topic_filter
        self._on_message = on_message
        self._host, self._port = host, port
        self._generation = 0
        self._lock = threading.Lock()
        self.mqtt = mqtt.Client(
            mqtt.Connection(
                host=host,
                port=port,
                client_id=client_id,
                username=username,
                password=password,
                tls_ca=tls_ca,
                keepalive_s=keepalive_s,
                session_expiry_s=session_expiry_s,
                receive_maximum=receive_maximum,
                manual_ack=True,
                queue_when_offline=False,
                subscriptions=((topic_filter, 1),),
            ),
            self._handle_message,
            on_connect=self._handle_connect,
            on_disconnect=self._handle_disconnect,
        )
        self.client = self.mqtt.client
        self._connected = self.mqtt.connected

    @property
    def generation(self) -> int:
        return self._generation

    def start(self) -> None:
        self.mqtt.start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self.mqtt.stop()

    def ack(self, items: Iterable[Inbound]) -> int:
        """Acknowledge committed messages, in arrival order; returns how many were sent.

        A batch's PUBACKs leave as one write: ``client.ack`` per message would queue one packet each
        and wake the network thread through a socket each time (two system calls a message, a tenth
        of a worker's time at full load). Only QoS 1 is batched; anything else goes through paho."""
        mids: list[int] = []
        one_by_one = 0
        with self._lock:
            gen = self._generation
            if not self._connected.is_set():
                return 0
            for m in items:
                if m.generation != gen or m.qos == 0:
                    continue
                if m.qos == 1 and _QUEUE_PACKET:
                    mids.append(m.mid)
                else:
                    self.client.ack(m.mid, m.qos)
                    one_by_one += 1
            if mids and _QUEUE_PACKET:
                _QUEUE_PACKET(self.client, PUBACK, pubacks(mids), 0, 1)
        return len(mids) + one_by_one

    def _handle_connect(self, session_present: bool) -> None:
        with self._lock:
            self._generation += 1
        log.info(
            "connected to broker %s:%s (session present: %s); subscribed to %s",
            self._host,
            self._port,
            session_present,
            self._filter,
        )

    def _handle_disconnect(self, unexpected: bool) -> None:
        if not unexpected:
            log.info("disconnected from broker")

    def _handle_message(self, msg: paho.MQTTMessage) -> None:
        self._on_message(Inbound(msg._topic, msg.payload, msg.mid, msg.qos, self._generation, time.time()))
