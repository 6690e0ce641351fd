"""What the alert engine's sinks deliver, as a receiver counts it: a webhook endpoint that keeps the first
of each ``notification_id`` (and can hang or fail on cue), and a live consumer of the MQTT alert topic.
Used by ``bench faults``' alert-engine scenarios."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from citywatch import broker
from citywatch.contracts.topics import alerts_filter


class HookReceiver:
    """A webhook receiver whose mood the scenario sets: ``ok``, ``hang`` (never answers while hanging) or
    ``fail`` (answers 500). Counts the openings it accepted, per alert, keeping the first of each
    ``notification_id`` as a receiver must (delivery is at least once); repeats are counted apart."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.accepted: Counter[int] = Counter()  # alert id -> distinct "opened" notifications accepted
        self.seen: set[int] = set()  # notification ids
        self.redelivered = 0
        self.refused = 0
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.mode == "hang":
                    receiver._release.wait(120)  # the sender's timeout ends its wait, not ours
                    receiver.refused += 1
                    with contextlib.suppress(OSError):
                        self.send_response(503)
                        self.end_headers()
                    return
                if receiver.mode == "fail":
                    receiver.refused += 1
                    self.send_response(500)
                    self.end_headers()
                    return
                n = orjson.loads(body)
                if n["notification_id"] in receiver.seen:
                    receiver.redelivered += 1
                elif n.get("what") == "opened":
                    receiver.accepted[int(n["alert_id"])] += 1
                receiver.seen.add(n["notification_id"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def set(self, mode: str) -> None:
        self.mode = mode
        if mode != "hang":
            self._release.set()
            self._release = threading.Event()

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()


class MqttWatch:
    """Counts the ``opened`` notifications on ``cw/v1/alerts/#``, per alert, keeping the first of each
    ``notification_id`` (delivery is at least once); repeats are counted apart."""

    def __init__(self, port: int, secret: str) -> None:
        self.opened: Counter[int] = Counter()
        self.seen: set[int] = set()
        self.redelivered = 0
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"faults-watch-{uuid.uuid4().hex[:6]}"
        )
        self.client.username_pw_set(
            broker.PLATFORM_USER, broker.derive_password(secret, broker.PLATFORM_USER)
        )
        ready = threading.Event()

        def on_connect(c: paho.Client, *_a: Any) -> None:
            c.subscribe(alerts_filter(), qos=1)

        def on_message(_c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
            n = orjson.loads(msg.payload)
            if n["notification_id"] in self.seen:
                self.redelivered += 1
            elif n.get("what") == "opened":
                self.opened[int(n["alert_id"])] += 1
            self.seen.add(n["notification_id"])

        self.client.on_connect = on_connect
        self.client.on_subscribe = lambda *_a: ready.set()
        self.client.on_message = on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not ready.wait(10):
            raise RuntimeError("could not subscribe to the alert notifications")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
