"""Simulated bus drivers: they watch their terminal (the boarding-bell downlink),
acknowledge new stops after a human delay, and usually stop where passengers
wait — but sometimes pass anyway (``pass_rate``), which is written down as
ground truth so the no-stop-pass detection can be scored."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import paho.mqtt.client as paho

from citywatch import broker, mqtt
from citywatch.contracts import messages as m
from citywatch.contracts.topics import bus_ack, bus_downlink_filter


class DriverDesk:
    """What every simulated driver currently sees on the terminal, and the passes they chose."""

    def __init__(self, pass_rate: float = 0.05, seed: int = 1) -> None:
        self.pass_rate = pass_rate
        self.rng = random.Random(f"{seed}:drivers")
        self._shown: dict[str, dict[str, tuple[str, ...]]] = {}  # bus -> stop -> request ids shown
        self._lock = threading.Lock()
        self.passes: list[dict[str, Any]] = []  # ground truth
        self.stops_made: list[dict[str, Any]] = []

    def show(self, bus_id: str, stops: dict[str, tuple[str, ...]]) -> set[str]:
        """The terminal now shows ``stops`` (stop -> request ids); returns the stops that are new to the driver."""
        with self._lock:
            before = self._shown.get(bus_id, {})
            self._shown[bus_id] = dict(stops)
            return set(stops) - set(before)

    def requested(self, bus_id: str, stop_id: str) -> bool:
        with self._lock:
            return stop_id in self._shown.get(bus_id, ())

    def decide_pass(self, bus_id: str, stop_id: str, t: float) -> bool:
        with self._lock:
            passes = self.rng.random() < self.pass_rate
            shown = self._shown.get(bus_id, {}).get(stop_id, ())
            (self.passes if passes else self.stops_made).append(
                {
                    "bus_id": bus_id,
                    "stop_id": stop_id,
                    "t": t,
                    "request_ids": list(shown),
                    "wall": time.time(),
                }
            )
            return passes


class DriverAgent:
    """Listens to every bus terminal (simulator account) and acknowledges like a driver would."""

    def __init__(
        self,
        desk: DriverDesk,
        *,
        host: str,
        port: int,
        secret: str,
        ack_delay_s: tuple[float, float] = (1, 4),
    ):
        self.desk = desk
        self.ack_delay_s = ack_delay_s
        self._seq: dict[str, int] = {}
        self.mqtt = mqtt.Client(
            mqtt.Connection(
                host=host,
                port=port,
                client_id=f"sim-drivers-{id(self)}",
                username=broker.SIMULATOR_USER,
                password=broker.derive_password(secret, broker.SIMULATOR_USER),
                mqtt5=False,
                subscriptions=((bus_downlink_filter("stops"), 1),),
            ),
            self._on_message,
        )
        self.ready = self.mqtt.subscribed  # watching every terminal
        self.mqtt.connect()

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        try:
            state = m.DriverAlert.model_validate_json(msg.payload)
        except ValueError:
            return
        new = self.desk.show(state.bus_id, {s.stop_id: tuple(s.request_ids) for s in state.stops})
        for stop in new:
            delay = self.desk.rng.uniform(*self.ack_delay_s)
            threading.Timer(delay, self._ack, args=(state.bus_id, stop)).start()

    def _ack(self, bus_id: str, stop_id: str) -> None:
        seq = self._seq.get(bus_id, 0)
        self._seq[bus_id] = seq + 1
        ack = m.DriverAck(device_id=bus_id, ts=datetime.now(UTC), seq=seq, stop_id=stop_id)
        self.mqtt.publish(bus_ack(bus_id), m.to_json(ack), qos=1)

    def close(self) -> None:
        self.mqtt.stop()


def labels(desk: DriverDesk) -> list[bytes]:
    return [orjson.dumps({"type": "no_stop_pass", **p}) for p in desk.passes]
