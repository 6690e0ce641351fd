"""The one MQTT client set-up every citywatch connection uses (paho-mqtt 2.x).

A :class:`Client` is a paho client configured the citywatch way, so that ingest, the alert sink, the
boarding bell, the API's terminal relay and the simulators all behave alike on the wire:

- credentials, and TLS 1.2 or later verified against the broker's CA when ``tls_ca`` is given;
- reconnects with backoff (1 s, doubling to 30 s) and **subscribes again on every connect**, so a lost
  or expired session is restored too (retained messages only for a new subscription);
- a persistent session (MQTT 5 session expiry, receive-maximum flow control) when asked, manual
  acknowledgements when asked (ingest acknowledges after its commit);
- every message from the broker **answers the keepalive ping** (:func:`citywatch.broker.traffic_answers_ping`):
  while a backlog drains, the PINGRESP queues behind it, and paho would drop a healthy connection;
- an exception in a message handler is logged, never let into paho's network loop.

The handlers run on paho's network thread: they must hand the work on, not do it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from citywatch import broker

if TYPE_CHECKING:
    from citywatch.settings import Settings

log = logging.getLogger(__name__)

MessageHandler = Callable[[paho.MQTTMessage], None]


@dataclass(frozen=True)
class Will:
    """The message the broker publishes for the client when it goes away (its Last Will)."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True)
class Connection:
    """How to reach the broker, and as whom."""

    host: str
    port: int
    client_id: str
    username: str
    password: str
    tls_ca: Path | None = None
    keepalive_s: int = 30
    mqtt5: bool = True  # MQTT 5; False: 3.1.1 (the simulated devices, like most field devices)
    #: MQTT 5 session expiry: a persistent session the broker keeps this long (None: a clean start)
    session_expiry_s: int | None = None
    receive_maximum: int | None = None  # MQTT 5 flow control: QoS 1 messages in flight to us
    manual_ack: bool = False  # acknowledge with Client.ack (after the work is safe), not on receipt
    max_inflight: int | None = None  # our QoS 1 publishes in flight
    queue_when_offline: bool = True  # False: publishing while disconnected fails instead of queueing
    will: Will | None = None
    subscriptions: Sequence[tuple[str, int]] = field(default_factory=tuple)  # (filter, qos), on every connect


def as_platform(settings: Settings, client_id: str, port: int | None = None) -> Connection:
    """The platform's own account (alert notifications, the broker's log) on the broker ``settings`` name;
    ``port``: another than the settings' (a local broker's)."""
    password = broker.derive_password(settings.device_secret.get_secret_value(), broker.PLATFORM_USER)
    return Connection(
        host=settings.mqtt.host,
        port=port or settings.mqtt.port,
        client_id=client_id,
        username=broker.PLATFORM_USER,
        password=password,
        tls_ca=settings.mqtt.tls_ca,
    )


class Client:
    def __init__(
        self,
        conn: Connection,
        on_message: MessageHandler | None = None,
        *,
        on_connect: Callable[[bool], None] | None = None,
        on_disconnect: Callable[[bool], None] | None = None,
    ) -> None:
        """``on_connect(session_present)`` for each connection the broker accepted, after the subscriptions
        are sent and before :attr:`connected` is set; ``on_disconnect(unexpected)`` when it ends (after
        :attr:`connected` is cleared)."""
        self.conn = conn
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # the broker granted every subscription of this connection
        self.refused: Any = None  # the broker's reason, when it refused the last attempt
        self._attempted = threading.Event()
        self._on_message, self._on_connect, self._on_disconnect = on_message, on_connect, on_disconnect
        kwargs: dict[str, Any] = {"client_id": conn.client_id, "manual_ack": conn.manual_ack}
        if conn.mqtt5:
            kwargs["protocol"] = paho.MQTTv5
        else:
            kwargs |= {"protocol": paho.MQTTv311, "clean_session": conn.session_expiry_s is None}
        self.client = paho.Client(CallbackAPIVersion.VERSION2, **kwargs)
        self.client.username_pw_set(conn.username, conn.password)
        broker.use_tls(self.client, conn.tls_ca)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        if conn.max_inflight is not None:
            self.client.max_inflight_messages_set(conn.max_inflight)
        if not conn.queue_when_offline:
            self.client.max_queued_messages_set(0)
        if conn.will is not None:
            w = conn.will
            self.client.will_set(w.topic, w.payload, qos=w.qos, retain=w.retain)
        self._props: Properties | None = None
        if conn.mqtt5 and (conn.session_expiry_s is not None or conn.receive_maximum is not None):
            self._props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            if conn.session_expiry_s is not None:
                self._props.SessionExpiryInterval = conn.session_expiry_s
            if conn.receive_maximum is not None:
                self._props.ReceiveMaximum = conn.receive_maximum
        self.client.on_connect = self._handle_connect
        self.client.on_disconnect = self._handle_disconnect
        self.client.on_message = self._handle_message
        self.client.on_subscribe = self._handle_subscribe
        self._pending_subs = 0

    # -- lifecycle ------------------------------------------------------
    def _connect_args(self) -> dict[str, Any]:
        if not self.conn.mqtt5:
            return {}
        return {"clean_start": self.conn.session_expiry_s is None, "properties": self._props}

    def start(self) -> None:
        """Connect in the background (and keep reconnecting); see :attr:`connected`."""
        self.client.connect_async(
            self.conn.host, self.conn.port, self.conn.keepalive_s, **self._connect_args()
        )
        self.client.loop_start()

    def connect(self, timeout: float = 10.0) -> None:
        """Connect now; raises ConnectionError when the broker refuses or does not answer in ``timeout``."""
        self.start()
        if not self._attempted.wait(timeout) or not self.connected.is_set():
            why = self.refused if self.refused is not None else "timeout"
            self.client.loop_stop()
            raise ConnectionError(f"{self.conn.username} could not connect to the broker: {why}")

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    # -- traffic --------------------------------------------------------
    def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False
    ) -> paho.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos, retain=retain)

    # -- paho's callbacks (its network thread) ---------------------------
    def _handle_connect(self, client: paho.Client, _u: Any, flags: Any, rc: Any, _p: Any = None) -> None:
        if rc.is_failure:
            self.refused = rc
            self._attempted.set()
            log.error("broker refused %s: %s", self.conn.client_id, rc)
            return
        self.refused = None
        self.subscribed.clear()
        self._pending_subs = len(self.conn.subscriptions)
        if not self._pending_subs:
            self.subscribed.set()
        for topic_filter, qos in self.conn.subscriptions:
            if self.conn.mqtt5:  # retainHandling=1: retained messages only for a new subscription
                client.subscribe(topic_filter, options=SubscribeOptions(qos=qos, retainHandling=1))
            else:
                client.subscribe(topic_filter, qos=qos)
        if self._on_connect is not None:  # before `connected`: whoever waits for it sees the hook's work
            self._on_connect(bool(getattr(flags, "session_present", False)))
        self.connected.set()
        self._attempted.set()

    def _handle_subscribe(self, *_a: Any) -> None:
        self._pending_subs -= 1
        if self._pending_subs <= 0:
            self.subscribed.set()

    def _handle_disconnect(self, _c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        self.connected.clear()
        unexpected = bool(getattr(rc, "is_failure", False))
        if unexpected:
            log.warning(
                "%s disconnected from the broker: %s (reconnecting with backoff)", self.conn.client_id, rc
            )
        if self._on_disconnect is not None:
            self._on_disconnect(unexpected)

    def _handle_message(self, client: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        broker.traffic_answers_ping(client)
        if self._on_message is None:
            return
        try:
            self._on_message(msg)
        except Exception:  # never let an exception reach paho's network loop
            log.exception("%s: a message on %s was not handled", self.conn.client_id, msg.topic)
