"""Publish simulated messages over real MQTT connections.

* ``device`` mode: one connection per device with its own credentials, a Last
  Will (``offline``) and a retained ``online`` status, exactly as field devices
  connect. An ``offline`` fault drops the socket without DISCONNECT, so the
  broker publishes the will.
* ``gateway`` mode: a few connections on the simulator account, for load tests
  and for input no real device could send (unknown devices, bad topics).

Everything is published with QoS 1 and counted once the broker acknowledged it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as paho

from citywatch import broker, mqtt
from citywatch.contracts import messages as m
from citywatch.contracts.topics import DeviceKind, Stream, topic_for
from simulators.behaviours import ts
from simulators.city import Device
from simulators.engine import Out

log = logging.getLogger(__name__)


class _Acks:
    """QoS 1 messages sent and not yet acknowledged, with back-pressure: past ``limit`` a sender waits
    until half of them are acknowledged (a publisher that runs ahead of the broker would otherwise
    queue without bound, and wrap paho's 16-bit message ids onto messages still in flight)."""

    def __init__(self, limit: int = 40_000, stall_s: float = 120.0) -> None:
        self.cond = threading.Condition()
        self.outstanding = 0
        self.acked = 0
        self.limit = limit
        self.stall_s = stall_s

    def sent(self) -> None:
        with self.cond:
            if self.outstanding >= self.limit and not self.cond.wait_for(
                lambda: self.outstanding <= self.limit // 2, self.stall_s
            ):
                raise ConnectionError(
                    f"the broker acknowledged nothing for {self.stall_s:.0f}s "
                    f"({self.outstanding} messages in flight)"
                )
            self.outstanding += 1

    def on_publish(self, *_a: Any) -> None:
        with self.cond:
            self.outstanding -= 1
            self.acked += 1
            if self.outstanding <= 0 or self.outstanding == self.limit // 2:
                self.cond.notify_all()

    def wait(self, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.outstanding <= 0, timeout)


class Publisher:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        secret: str,
        mode: str = "device",
        connections: int = 1,
        inflight: int = 1000,
    ) -> None:
        self.host, self.port, self.secret, self.mode = host, port, secret, mode
        self.inflight = inflight
        self.acks = _Acks()
        self.sent: Counter[str] = Counter()  # by tag: "data", "malformed", "duplicate", "status", "raw"
        self.wills: list[str] = []  # devices whose Last Will the broker should have published
        self._clients: dict[str, paho.Client] = {}
        self._devices: dict[str, Device] = {}
        self._gateways: list[paho.Client] = []
        self._n_gateways = connections

    # -- connections ----------------------------------------------------
    def _client(
        self, client_id: str, username: str, password: str, will: tuple[str, bytes] | None
    ) -> paho.Client:
        """A connected MQTT 3.1.1 client (as most field devices speak), its publishes counted by ``acks``."""
        c = mqtt.Client(
            mqtt.Connection(
                host=self.host,
                port=self.port,
                client_id=client_id,
                username=username,
                password=password,
                mqtt5=False,
                max_inflight=self.inflight,
                queue_when_offline=False,
                will=mqtt.Will(*will) if will else None,
            )
        )
        c.client.on_publish = self.acks.on_publish
        c.connect(10)
        return c.client

    def _status(self, d: Device, status: str, t: float) -> bytes:
        return m.to_json(
            m.DeviceStatus.model_validate({"device_id": d.device_id, "ts": ts(t), "status": status})
        )

    def _connect_device(self, d: Device, t: float) -> None:
        topic = topic_for(d.kind, d.device_id, Stream.STATUS)
        pw = broker.derive_password(self.secret, d.device_id)
        c = self._client(f"sim-{d.device_id}", d.device_id, pw, (topic, self._status(d, "offline", t)))
        self._clients[d.device_id] = c
        self._publish(c, topic, self._status(d, "online", t), retain=True)
        self.sent["status"] += 1

    def open(self, devices: Iterable[Device], t: float | None = None) -> None:
        t = time.time() if t is None else t
        for d in devices:
            self._devices[d.device_id] = d
        if self.mode == "device":
            for d in self._devices.values():
                self._connect_device(d, t)
        pw = broker.derive_password(self.secret, broker.SIMULATOR_USER)
        for i in range(self._n_gateways):
            self._gateways.append(
                self._client(f"sim-gateway-{i}-{id(self)}", broker.SIMULATOR_USER, pw, None)
            )
        log.info(
            "publisher open: %d device connections, %d gateway connections",
            len(self._clients),
            len(self._gateways),
        )

    def _gateway(self, key: str) -> paho.Client:
        """The connection for ``key`` (a device id, or a topic): always the same one, because MQTT keeps
        order only within a connection, and a device's messages must arrive in the order it sent them."""
        return self._gateways[zlib.crc32(key.encode()) % len(self._gateways)]

    def _publish(self, c: paho.Client, topic: str, payload: bytes, retain: bool = False) -> None:
        self.acks.sent()
        info = c.publish(topic, payload, qos=1, retain=retain)
        if info.rc != paho.MQTT_ERR_SUCCESS and info.rc != paho.MQTT_ERR_NO_CONN:
            raise ConnectionError(f"publish to {topic} failed: {info.rc}")

    # -- sending --------------------------------------------------------
    def send(self, o: Out) -> None:
        if o.tag == "offline":
            c = self._clients.pop(o.device_id, None)
            if c is not None:  # a crash: no DISCONNECT, the broker publishes the will
                c.loop_stop()
                sock = c.socket()
                if isinstance(sock, socket.socket):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                self.wills.append(o.device_id)
            return
        if o.tag == "online":
            if self.mode == "device" and o.device_id in self._devices:
                self._connect_device(self._devices[o.device_id], o.t)
            return
        c = self._clients.get(o.device_id) if self.mode == "device" else None
        if c is None:
            if self.mode == "device" and o.device_id in self._devices:
                return  # the device is offline: it would not send
            c = self._gateway(o.device_id)
        self._publish(c, o.topic, o.payload)
        self.sent[o.tag or "data"] += 1

    def send_raw(self, topic: str, payload: bytes) -> None:
        """Publish anything through the simulator account (unknown devices, bad topics)."""
        self._publish(self._gateway(topic), topic, payload)
        self.sent["raw"] += 1

    def run(self, outs: Iterable[Out], speed: float = 1.0, progress_every: float = 5.0) -> None:
        """Send in simulated-time order; ``speed`` is sim seconds per wall second (inf: backfill).

        Simulated time never runs ahead of the real clock: an accelerated or backfill run catches up
        with "now" and then continues in real time."""
        wall0 = time.monotonic()
        t0: float | None = None
        last = wall0
        n = 0
        for o in outs:
            if t0 is None:
                t0 = o.t
            # at `speed`, but never ahead of the real clock: a device cannot report the future
            delay = o.t - time.time()
            if speed != float("inf"):
                delay = max(delay, wall0 + (o.t - t0) / speed - time.monotonic())
            if delay > 0:
                time.sleep(delay)
            self.send(o)
            n += 1
            now = time.monotonic()
            if progress_every and now - last >= progress_every:
                last = now
                log.info(
                    "simulated %s, %d messages sent (%.0f msg/s)",
                    ts(o.t).isoformat(timespec="seconds"),
                    n,
                    n / (now - wall0),
                )

    def flush(self, timeout: float = 60.0) -> bool:
        return self.acks.wait(timeout)

    def close(self, t: float | None = None) -> None:
        """Flush, say ``offline`` (retained) for every connected device, and disconnect cleanly."""
        t = time.time() if t is None else t
        for dev, c in self._clients.items():
            d = self._devices[dev]
            self._publish(
                c,
                topic_for(d.kind, dev, Stream.STATUS),
                m.to_json(m.DeviceStatus(device_id=dev, ts=ts(t), status="offline", reason="shutdown")),
                retain=True,
            )
            self.sent["status"] += 1
        self.flush(30)
        for c in [*self._clients.values(), *self._gateways]:
            c.disconnect()
            c.loop_stop()
        self._clients.clear()
        self._gateways.clear()


def device_kinds(devices: Iterable[Device]) -> dict[str, DeviceKind]:
    return {d.device_id: d.kind for d in devices}
