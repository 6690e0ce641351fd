"""Ingest's connection survives a backlog: while thousands of messages drain, the broker's PINGRESP
queues behind them and arrives later than the keepalive. paho 2.1 dropped the connection then (every
keepalive, with up to receive-maximum messages redelivered); a message from the broker now answers the
outstanding ping. Real Mosquitto, a reader slower than the backlog (1,000 a second: the 3,000 in flight
take 3 s to read), a 2 s keepalive."""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path

from citywatch import broker
from citywatch.contracts.topics import DeviceKind, topic_for
from ingest.mqtt import Inbound, Subscriber
from tests.support import SECRET
from tools.bench.rawpub import RawPublisher
from tools.localservices import MosquittoBroker

N = 5000


def test_a_draining_backlog_does_not_drop_the_connection(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    mosquitto.write_config([broker.DeviceAccount("aq-001", DeviceKind.AIR_QUALITY)])
    mosquitto.start()
    got: deque[Inbound] = deque()

    def decode(m: Inbound) -> None:  # ingest decodes on paho's network thread: about 1 ms a message here
        time.sleep(0.001)
        got.append(m)

    sub = Subscriber(
        host="127.0.0.1", port=mosquitto.port, client_id="ingest-keepalive", username=broker.INGEST_USER,
        password=broker.derive_password(SECRET, broker.INGEST_USER), topic_filter="cw/v1/#",
        on_message=decode, receive_maximum=3000, keepalive_s=2,
    )  # fmt: skip
    sub.start()
    assert sub.wait_connected(10)
    time.sleep(0.3)
    pub = RawPublisher(
        "127.0.0.1", mosquitto.port, broker.SIMULATOR_USER, broker.derive_password(SECRET, broker.SIMULATOR_USER),
        "keepalive-load",
    )  # fmt: skip
    topic = topic_for(DeviceKind.AIR_QUALITY, "aq-001")
    for i in range(N):
        pub.send(topic, b'{"n": %d}' % i)
    assert pub.flush(30)
    pub.close()
    acked, stop = [0], threading.Event()

    def consumer() -> None:  # commits and acknowledges what was read, every 50 ms
        while not stop.is_set() and acked[0] < N:
            batch = [got.popleft() for _ in range(len(got))]
            acked[0] += sub.ack(batch) if batch else 0
            time.sleep(0.05)

    t = threading.Thread(target=consumer)
    t.start()
    t.join(40)
    stop.set()
    sub.stop()
    assert acked[0] == N, f"{acked[0]} of {N} acknowledged"
    assert sub.generation == 1, f"the connection was dropped {sub.generation - 1} time(s) while draining"
