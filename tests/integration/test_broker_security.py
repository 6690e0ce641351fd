"""Per-device credentials and ACL, enforced by a real Mosquitto."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from citywatch import broker
from citywatch.contracts.topics import DeviceKind, bus_downlink
from citywatch.devices import broker_accounts
from tests.support import SECRET, Platform, wait_for


def connect(
    p: Platform, user: str, password: str | None = None
) -> tuple[paho.Client, list[paho.MQTTMessage], object]:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{time.monotonic_ns()}")
    c.username_pw_set(user, password if password is not None else broker.derive_password(SECRET, user))
    got: list[paho.MQTTMessage] = []
    result: dict[str, object] = {}
    ev = threading.Event()

    def on_connect(_c, _u, _f, rc, _p):  # type: ignore[no-untyped-def]
        result["rc"] = rc
        ev.set()

    c.on_connect = on_connect
    c.on_message = lambda _c, _u, m: got.append(m)
    c.connect("127.0.0.1", p.broker.port)
    c.loop_start()
    ev.wait(5)
    return c, got, result.get("rc")


def test_wrong_password_and_anonymous_are_refused(platform: Platform) -> None:
    for user, pw in (("aq-001", "wrong"), ("", "")):
        c, _, rc = connect(platform, user, pw)
        c.loop_stop()
        assert rc is not None and rc.is_failure  # type: ignore[attr-defined]


def test_device_publishes_only_on_its_own_topics(platform: Platform) -> None:
    spy, got, _ = connect(platform, broker.PLATFORM_USER)
    spy.subscribe("cw/v1/#", qos=1)
    time.sleep(0.2)
    dev, _, rc = connect(platform, "aq-001")
    assert not rc.is_failure  # type: ignore[attr-defined]
    dev.publish("cw/v1/aq/aq-001/telemetry", b"mine", qos=1).wait_for_publish(5)
    dev.publish("cw/v1/aq/aq-002/telemetry", b"forged", qos=1).wait_for_publish(5)
    dev.publish("cw/v1/bus/bus-0101/position", b"forged", qos=1).wait_for_publish(5)
    assert wait_for(lambda: any(m.payload == b"mine" for m in got), 5)
    time.sleep(0.3)
    assert [m.payload for m in got] == [b"mine"]
    dev.loop_stop()
    spy.loop_stop()


def test_bus_terminal_reads_only_its_own_downlink(platform: Platform) -> None:
    bus1, got1, _ = connect(platform, "bus-0101")
    bus1.subscribe(bus_downlink("bus-0101", "#"), qos=1)
    bus1.subscribe(bus_downlink("bus-0102", "#"), qos=1)
    bus1.subscribe("cw/v1/aq/#", qos=1)
    time.sleep(0.3)
    plat, _, _ = connect(platform, broker.PLATFORM_USER)
    plat.publish(bus_downlink("bus-0102", "stops"), b"for 0102", qos=1).wait_for_publish(5)
    plat.publish("cw/v1/aq/aq-001/telemetry", b"air", qos=1).wait_for_publish(5)
    plat.publish(bus_downlink("bus-0101", "stops"), b"for 0101", qos=1).wait_for_publish(5)
    assert wait_for(lambda: len(got1) >= 1, 5)
    time.sleep(0.3)
    assert [m.payload for m in got1] == [b"for 0101"]
    bus1.loop_stop()
    plat.loop_stop()


def test_revoked_credentials_stop_working_after_reload(platform: Platform) -> None:
    c, _, rc = connect(platform, "cam-001")
    c.loop_stop()
    assert not rc.is_failure  # type: ignore[attr-defined]
    platform.query(
        "UPDATE devices SET credential_version = credential_version + 1 WHERE device_id = 'cam-001'"
    )
    platform.broker.write_auth(broker_accounts(platform.db_url))
    platform.broker.reload()
    time.sleep(0.5)
    c, _, rc = connect(platform, "cam-001")
    c.loop_stop()
    assert rc.is_failure  # type: ignore[attr-defined]
    c, _, rc = connect(platform, "cam-001", broker.derive_password(SECRET, "cam-001", 2))
    c.loop_stop()
    assert not rc.is_failure  # type: ignore[attr-defined]


@pytest.mark.parametrize("rate", [1.0, 15.0, 1500.0])
def test_outage_absorbed_is_queue_over_rate(rate: float) -> None:
    limits = broker.BrokerLimits(max_queued_messages=1_000_000)
    assert broker.outage_absorbed_s(limits, rate) == pytest.approx(1_000_000 / rate)


def test_stop_panel_reads_only_its_own_replies(platform: Platform) -> None:
    from citywatch.contracts.topics import stop_reply

    panel, got, rc = connect(platform, "stop-0101")
    assert not rc.is_failure  # type: ignore[attr-defined]
    panel.subscribe(stop_reply("stop-0101"), qos=1)
    panel.subscribe(stop_reply("stop-0102"), qos=1)
    time.sleep(0.3)
    plat, _, _ = connect(platform, broker.PLATFORM_USER)
    plat.publish(stop_reply("stop-0102"), b"not yours", qos=1).wait_for_publish(5)
    plat.publish(stop_reply("stop-0101"), b"yours", qos=1).wait_for_publish(5)
    assert wait_for(lambda: len(got) >= 1, 5)
    time.sleep(0.3)
    assert [m.payload for m in got] == [b"yours"]
    panel.loop_stop()
    plat.loop_stop()


def test_auth_files_are_owner_only_and_replaced_whole(tmp_path: Path) -> None:
    accounts = [broker.DeviceAccount("aq-001", DeviceKind.AIR_QUALITY)]
    broker.write_auth_files(tmp_path / "b", "s3cret", accounts)
    first = (tmp_path / "b" / "passwd").stat().st_ino
    broker.write_auth_files(tmp_path / "b", "s3cret", accounts)  # again: a new file moved into place
    for name in ("passwd", "acl"):
        st = (tmp_path / "b" / name).stat()
        assert st.st_mode & 0o777 == 0o600, name
    assert (tmp_path / "b" / "passwd").stat().st_ino != first
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["acl", "passwd"]  # no temporary left
    assert "aq-001:" in (tmp_path / "b" / "passwd").read_text()
