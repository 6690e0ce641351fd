"""The bus-driver terminal relay: MQTT (the boarding bell's retained terminal state) in, the web
terminal's streams out; the driver's acknowledgement back to MQTT as the bus's own uplink.

One MQTT connection per API process (platform account) subscribes to
``cw/v1/bus/+/downlink/stops``; the broker replays every bus's retained state on
(re)connect, so a freshly started API knows what each terminal should show at
once. Streams of one bus wait on that bus's asyncio event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import paho.mqtt.client as paho

from citywatch import broker, mqtt
from citywatch.contracts import messages as m
from citywatch.contracts.topics import bus_ack, bus_downlink_filter
from citywatch.settings import Settings

log = logging.getLogger("citywatch.api.terminal")


class TerminalRelay:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state: dict[str, dict[str, Any]] = {}  # bus -> the DriverAlert it should show
        self.version: dict[str, int] = {}
        self._events: dict[str, asyncio.Event] = {}
        self._next_seq: dict[str, int] = {}
        self._seq_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        secret = settings.device_secret.get_secret_value()
        self.mqtt = mqtt.Client(
            mqtt.Connection(
                host=settings.mqtt.host,
                port=settings.mqtt.port,
                client_id=f"citywatch-api-{uuid.uuid4().hex[:8]}",
                username=broker.PLATFORM_USER,
                password=broker.derive_password(secret, broker.PLATFORM_USER),
                tls_ca=settings.mqtt.tls_ca,
                keepalive_s=settings.mqtt.keepalive_s,
                subscriptions=((bus_downlink_filter("stops"), 1),),
            ),
            self._on_message,
        )

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.mqtt.start()

    def stop(self) -> None:
        self.mqtt.stop()

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        bus = msg.topic.split("/")[3]
        try:
            alert = m.DriverAlert.model_validate_json(msg.payload)
        except ValueError as e:
            log.warning("ignoring a malformed terminal state for %s: %s", bus, e)
            return
        self.state[bus] = alert.model_dump(mode="json")
        self.version[bus] = self.version.get(bus, 0) + 1
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake, bus)

    def _wake(self, bus: str) -> None:
        ev = self._events.pop(bus, None)
        if ev is not None:
            ev.set()

    def current(self, bus: str) -> dict[str, Any]:
        return self.state.get(bus) or {
            "v": 1,
            "bus_id": bus,
            "ts": datetime.now(UTC).isoformat(),
            "stops": [],
        }

    async def wait(self, bus: str, seen: int, timeout: float) -> int:
        """Until the bus's state changes from version ``seen`` (or ``timeout``); returns the version."""
        if self.version.get(bus, 0) == seen:
            ev = self._events.setdefault(bus, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ev.wait(), timeout)
        return self.version.get(bus, 0)

    def acknowledge(self, bus: str, stop_id: str, request_ids: list[str], stored_next_seq: int) -> int:
        """The driver saw it: the bus's ack uplink, at QoS 1 (the boarding bell and ingest both take it).
        Sequence numbers continue the bus's stored acks (and this process's own, not yet stored)."""
        with self._seq_lock:
            seq = max(stored_next_seq, self._next_seq.get(bus, 0))
            self._next_seq[bus] = seq + 1
        ack = m.DriverAck(
            device_id=bus, ts=datetime.now(UTC), seq=seq, stop_id=stop_id, request_ids=request_ids
        )
        info = self.mqtt.publish(bus_ack(bus), orjson.dumps(ack.model_dump(mode="json")), qos=1)
        info.wait_for_publish(5)
        return seq
