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
from paho.mqtt.enums import CallbackAPIVersion

from citywatch import broker
from citywatch.contracts import messages as m
from citywatch.contracts.topics import PREFIX, bus_ack
from citywatch.settings import Settings

log = logging.getLogger("citywatch.api.terminal")

DOWNLINK = f"{PREFIX}/bus/+/downlink/stops"


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
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"citywatch-api-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv5,
        )
        self.client.username_pw_set(
            broker.PLATFORM_USER, broker.derive_password(secret, broker.PLATFORM_USER)
        )
        broker.use_tls(self.client, settings.mqtt.tls_ca)
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        m_ = self.settings.mqtt
        self.client.connect_async(m_.host, m_.port, keepalive=m_.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if rc.is_failure:
            log.error("broker refused the terminal relay: %s", rc)
            return
        client.subscribe(DOWNLINK, qos=1)

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
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
        info = self.client.publish(bus_ack(bus), orjson.dumps(ack.model_dump(mode="json")), qos=1)
        info.wait_for_publish(5)
        return seq
