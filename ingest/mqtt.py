"""paho-mqtt 2.x adapter: a QoS 1 subscriber with a persistent session and
manual acknowledgements.

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
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from citywatch import broker

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
        self._host, self._port, self._keepalive = host, port, keepalive_s
        self._generation = 0
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5, manual_ack=True
        )
        self.client.username_pw_set(username, password)
        broker.use_tls(self.client, tls_ca)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.max_queued_messages_set(0)
        self._props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        self._props.SessionExpiryInterval = session_expiry_s
        self._props.ReceiveMaximum = receive_maximum
        self.client.on_connect = self._handle_connect
        self.client.on_disconnect = self._handle_disconnect
        self.client.on_message = self._handle_message

    @property
    def generation(self) -> int:
        return self._generation

    def start(self) -> None:
        self.client.connect_async(
            self._host, self._port, self._keepalive, clean_start=False, properties=self._props
        )
        self.client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

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

    def _handle_connect(self, client: paho.Client, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("broker refused ingest connection: %s", rc)
            return
        with self._lock:
            self._generation += 1
            self._connected.set()
        log.info(
            "connected to broker %s:%s (session present: %s); subscribing to %s",
            self._host,
            self._port,
            flags.session_present,
            self._filter,
        )
        # Subscribe on every connect: a lost or expired session is restored too.
        # retainHandling=1: retained messages only for a new subscription.
        client.subscribe(self._filter, options=SubscribeOptions(qos=1, retainHandling=1))

    def _handle_disconnect(self, _c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        with self._lock:
            self._connected.clear()
        if rc.is_failure:
            log.warning("disconnected from broker: %s (reconnecting with backoff)", rc)
        else:
            log.info("disconnected from broker")

    def _handle_message(self, c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        # while a backlog drains the PINGRESP arrives late; the message answers the ping (up to
        # receive-maximum messages were redelivered after each needless reconnect)
        broker.traffic_answers_ping(c)
        try:
            self._on_message(
                Inbound(msg._topic, msg.payload, msg.mid, msg.qos, self._generation, time.time())
            )
        except Exception:  # never let an exception reach paho's network loop
            log.exception("failed to enqueue message (mid %s); it will be redelivered", msg.mid)
