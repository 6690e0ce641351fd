"""The broker's TLS listener (local CA from citywatch.tls): a device that trusts the CA connects with
its own credentials and its data flows; a client that does not trust the CA, plain MQTT on the TLS
port, and a wrong password are all refused."""

from __future__ import annotations

import ssl
import threading
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from cryptography import x509
from paho.mqtt.enums import CallbackAPIVersion

from citywatch import broker, mqtt
from citywatch.contracts.topics import DeviceKind, topic_for
from citywatch.tls import make_local_ca
from tests.support import SECRET
from tools.localservices import MosquittoBroker, free_port


@pytest.fixture
def tls_broker(workdir: Path) -> Any:
    b = MosquittoBroker(workdir / f"mq-tls-{uuid.uuid4().hex[:6]}", free_port(), SECRET, tls_port=free_port())
    b.write_config([broker.DeviceAccount("aq-001", DeviceKind.AIR_QUALITY)])
    b.start()
    yield b
    b.stop()


def client(user: str, password: str, ca: Path | None, tls: bool = True) -> tuple[paho.Client, dict[str, Any]]:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{uuid.uuid4().hex[:6]}")
    c.username_pw_set(user, password)
    if tls:
        c.tls_set(
            ca_certs=str(ca) if ca else None, cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT
        )
    state: dict[str, Any] = {"connected": threading.Event(), "rc": None, "got": []}

    def on_connect(_c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        state["rc"] = rc
        state["connected"].set()

    c.on_connect = on_connect
    c.on_message = lambda _c, _u, m: state["got"].append(m.payload)
    return c, state


def test_a_device_that_trusts_the_ca_connects_and_its_data_flows(tls_broker: MosquittoBroker) -> None:
    assert tls_broker.tls is not None and tls_broker.tls_port is not None
    ca = tls_broker.tls.ca
    sub, s = client(broker.INGEST_USER, broker.derive_password(SECRET, broker.INGEST_USER), ca)
    sub.connect("localhost", tls_broker.tls_port)
    sub.loop_start()
    assert s["connected"].wait(10) and not s["rc"].is_failure
    sub.subscribe("cw/v1/#", qos=1)
    dev, d = client("aq-001", broker.derive_password(SECRET, "aq-001"), ca)
    dev.connect("127.0.0.1", tls_broker.tls_port)  # the certificate names both localhost and 127.0.0.1
    dev.loop_start()
    assert d["connected"].wait(10) and not d["rc"].is_failure
    import time

    time.sleep(0.3)
    dev.publish(topic_for(DeviceKind.AIR_QUALITY, "aq-001"), b"over tls", qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 5
    while not s["got"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert s["got"] == [b"over tls"]
    for c in (dev, sub):
        c.disconnect()
        c.loop_stop()


def test_untrusted_plain_and_wrong_password_are_refused(tls_broker: MosquittoBroker) -> None:
    assert tls_broker.tls is not None and tls_broker.tls_port is not None
    password = broker.derive_password(SECRET, "aq-001")
    # a client that trusts only the system's CAs: the handshake fails
    c, _ = client("aq-001", password, None)
    with pytest.raises(ssl.SSLCertVerificationError):
        c.connect("localhost", tls_broker.tls_port)
    # plain MQTT on the TLS port: no connection
    c, st = client("aq-001", password, None, tls=False)
    try:
        c.connect("127.0.0.1", tls_broker.tls_port)
        c.loop_start()
        assert not st["connected"].wait(3)
    except OSError:
        pass
    finally:
        c.loop_stop()
    # the right CA but the wrong password: the broker says no
    c, st = client("aq-001", "wrong-password", tls_broker.tls.ca)
    c.connect("localhost", tls_broker.tls_port)
    c.loop_start()
    assert st["connected"].wait(10) and st["rc"].is_failure
    c.loop_stop()


def test_the_local_ca_is_kept_and_names_the_hosts(tmp_path: Path) -> None:
    first = make_local_ca(tmp_path)
    again = make_local_ca(tmp_path)
    assert first.cert.read_bytes() == again.cert.read_bytes()  # idempotent
    cert = x509.load_pem_x509_certificate(first.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert oct(first.key.stat().st_mode & 0o777) == "0o600"
    ca = x509.load_pem_x509_certificate(first.ca.read_bytes())
    assert cert.issuer == ca.subject
    conf = broker.mosquitto_conf(port=1, data_dir=tmp_path, tls_port=8883, tls=first)
    assert (
        "listener 8883 127.0.0.1" in conf and "tls_version tlsv1.2" in conf and f"keyfile {first.key}" in conf
    )


def _tls_connect(b: MosquittoBroker, user: str, password: str) -> Any:
    assert b.tls is not None and b.tls_port is not None
    c, st = client(user, password, b.tls.ca)
    c.connect("localhost", b.tls_port)
    c.loop_start()
    assert st["connected"].wait(10)
    c.disconnect()
    c.loop_stop()
    return st["rc"]


def test_rotated_and_retired_credentials_stop_working_on_the_tls_listener(
    tls_broker: MosquittoBroker,
) -> None:
    """Both listeners read one password file: a rotation or a retirement applies to TLS devices at the
    reload, as it does on the internal listener."""
    import time

    v1 = broker.derive_password(SECRET, "aq-001")
    assert not _tls_connect(tls_broker, "aq-001", v1).is_failure
    tls_broker.write_auth(
        [
            broker.DeviceAccount("aq-001", DeviceKind.AIR_QUALITY, credential_version=2),
            broker.DeviceAccount("aq-002", DeviceKind.AIR_QUALITY),
        ]
    )
    tls_broker.reload()
    time.sleep(0.5)
    assert _tls_connect(tls_broker, "aq-001", v1).is_failure  # the old password: refused
    assert not _tls_connect(tls_broker, "aq-001", broker.derive_password(SECRET, "aq-001", 2)).is_failure
    assert not _tls_connect(tls_broker, "aq-002", broker.derive_password(SECRET, "aq-002")).is_failure
    tls_broker.write_auth([broker.DeviceAccount("aq-001", DeviceKind.AIR_QUALITY, credential_version=2)])
    tls_broker.reload()  # aq-002 retired
    time.sleep(0.5)
    assert _tls_connect(tls_broker, "aq-002", broker.derive_password(SECRET, "aq-002")).is_failure


def test_the_services_connect_over_tls_when_given_the_ca(tls_broker: MosquittoBroker, tmp_path: Path) -> None:
    """CITYWATCH_MQTT_TLS_CA: ingest's subscriber and the alert publisher verify the broker by the CA
    and talk TLS; with another CA they do not connect at all."""
    import time

    from alerts.mqtt import AlertPublisher
    from citywatch.contracts.topics import alerts_topic
    from ingest.mqtt import Inbound, Subscriber

    assert tls_broker.tls is not None and tls_broker.tls_port is not None
    got: list[Inbound] = []

    def ingest(client_id: str, ca: Path) -> Subscriber:
        assert tls_broker.tls_port is not None
        return Subscriber(
            host="127.0.0.1",
            port=tls_broker.tls_port,
            client_id=client_id,
            username=broker.INGEST_USER,
            password=broker.derive_password(SECRET, broker.INGEST_USER),
            topic_filter="cw/v1/#",
            on_message=got.append,
            tls_ca=ca,
        )

    sub = ingest("ingest-tls", tls_broker.tls.ca)
    sub.start()
    try:
        assert sub.wait_connected(10)
        time.sleep(0.3)
        sink = AlertPublisher(
            mqtt.Connection(
                host="127.0.0.1", port=tls_broker.tls_port, client_id="analytics-tls", username=broker.PLATFORM_USER,
                password=broker.derive_password(SECRET, broker.PLATFORM_USER), tls_ca=tls_broker.tls.ca,
            )
        )  # fmt: skip
        sink("device", b'{"rule": "device.offline"}')  # raises unless the broker acknowledged it
        sink.close()
        dev, d = client("aq-001", broker.derive_password(SECRET, "aq-001"), tls_broker.tls.ca)
        dev.connect("127.0.0.1", tls_broker.tls_port)
        dev.loop_start()
        assert d["connected"].wait(10)
        dev.publish(topic_for(DeviceKind.AIR_QUALITY, "aq-001"), b"reading", qos=1).wait_for_publish(5)
        dev.disconnect()
        dev.loop_stop()
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert {(m.topic, m.payload) for m in got} >= {
            (alerts_topic("device").encode(), b'{"rule": "device.offline"}'),
            (topic_for(DeviceKind.AIR_QUALITY, "aq-001").encode(), b"reading"),
        }
    finally:
        sub.stop()
    other = make_local_ca(tmp_path / "other")
    stranger = ingest("ingest-wrong-ca", other.ca)
    stranger.start()
    try:
        assert not stranger.wait_connected(3)  # the broker's certificate is not from this CA
    finally:
        stranger.stop()
