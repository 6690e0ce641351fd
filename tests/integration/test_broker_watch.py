"""Devices the broker turns away reach the operators: a real Mosquitto's log on $SYS/broker/log, read by the
analytics service, raises platform.broker_logins and device.client_takeover."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from analytics.broker_log import BrokerLog
from analytics.service import AnalyticsService
from citywatch import broker, mqtt
from citywatch.contracts.topics import topic_for
from citywatch.devices import broker_accounts
from tests.support import SECRET, Platform, wait_for


def connect(
    port: int, user: str, password: str, client_id: str | None = None
) -> tuple[paho.Client, list[int]]:
    codes: list[int] = []
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"t-{uuid.uuid4().hex[:8]}")
    c.username_pw_set(user, password)
    c.on_connect = lambda _c, _u, _f, rc, _p=None: codes.append(rc.value)
    c.connect("127.0.0.1", port)
    c.loop_start()
    wait_for(lambda: bool(codes), 5)
    return c, codes


def watching(platform: Platform, log: BrokerLog, rules: Path, text: str) -> AnalyticsService:
    """The analytics service reading ``log`` under the rules ``text`` (written to ``rules``)."""
    rules.write_text(text + "\n")
    settings = platform.settings()
    settings.analytics.rules_file = rules
    return AnalyticsService(settings, broker_log=log)


def test_failed_logins_and_a_taken_over_client_id_become_alerts(db_url: str, mosquitto, tmp_path) -> None:  # type: ignore[no-untyped-def]
    mosquitto.write_config(broker_accounts(db_url))
    mosquitto.start()
    platform = Platform(db_url, mosquitto, None)  # type: ignore[arg-type]
    password = broker.derive_password(SECRET, broker.PLATFORM_USER)
    log = BrokerLog(
        mqtt.Connection(
            host="127.0.0.1", port=mosquitto.port, client_id="watch-broker-log", username=broker.PLATFORM_USER,
            password=password,
        )
    )  # fmt: skip
    log.start()
    assert log.wait_reading(10)  # granted: every refusal from here on is logged to it
    try:
        refused = []
        for _ in range(4):  # someone guessing
            c, codes = connect(mosquitto.port, "aq-404", "guess")
            refused.append(codes[0])
            c.loop_stop()
            c.disconnect()
        assert all(rc != 0 for rc in refused)
        first, ok1 = connect(mosquitto.port, broker.PLATFORM_USER, password, "twin-1")
        second, ok2 = connect(mosquitto.port, broker.PLATFORM_USER, password, "twin-1")  # takes the id over
        assert ok1 == [0] and ok2[0] == 0
        time.sleep(0.5)
        for c in (first, second):
            c.loop_stop()
            c.disconnect()
        service = watching(platform, log, tmp_path / "rules.yaml", "broker: {failed_logins: 3, takeovers: 1}")

        def raised() -> set[tuple[str, str]]:
            service.step(health=True)
            return {(str(r), str(s)) for r, s in platform.query("SELECT rule, subject FROM alerts")}  # type: ignore[misc]

        assert wait_for(
            lambda: {("platform.broker_logins", "broker"), ("device.client_takeover", "twin-1")} <= raised(),
            15,
        ), platform.query("SELECT rule, subject, title FROM alerts")
        # the alert may rise at the third refusal before the fourth is read; raised again as it grows
        addresses = (
            "SELECT explanation->'details'->'addresses' FROM alerts WHERE rule = 'platform.broker_logins'"
        )
        assert wait_for(lambda: raised() and platform.query(addresses) == [({"127.0.0.1": 4},)], 15), (
            platform.query(addresses)
        )  # where the guesses came from
        service.conn.close()
    finally:
        log.close()


def test_a_device_publishing_on_another_devices_topic_becomes_an_alert(
    db_url: str, mosquitto, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """With the broker's debug level on (the only level at which Mosquitto logs an ACL refusal, to its file
    alone), a device writing on another device's topic raises device.publish_refused, naming the topic."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO devices (device_id, kind, name) VALUES ('aq-901', 'aq', 'a'), ('aq-902', 'aq', 'b')"
        )
    accounts = broker_accounts(db_url)
    mosquitto.debug_log = True
    mosquitto.write_config(accounts)
    mosquitto.start()
    platform = Platform(db_url, mosquitto, None)  # type: ignore[arg-type]
    log = BrokerLog(
        mqtt.as_platform(platform.settings(), "watch-broker-log", mosquitto.port),
        file=mosquitto.data_dir / "mosquitto.log",
    )
    log.start()
    assert log.wait_reading(10)
    try:
        me, other = (next(a for a in accounts if a.device_id == d) for d in ("aq-901", "aq-902"))
        c, codes = connect(
            mosquitto.port, me.device_id, broker.derive_password(SECRET, me.device_id), me.device_id
        )
        assert codes == [0]
        theirs = topic_for(other.kind, other.device_id)
        c.publish(topic_for(me.kind, me.device_id), b"{}", qos=1).wait_for_publish(5)  # its own: allowed
        c.publish(theirs, b"{}", qos=1).wait_for_publish(5)  # another's: the ACL refuses it
        c.loop_stop()
        c.disconnect()
        service = watching(platform, log, tmp_path / "rules.yaml", "broker: {refused_publishes: 1}")
        query = "SELECT subject, explanation->'details'->'topics' FROM alerts WHERE rule = 'device.publish_refused'"

        def raised() -> list[tuple[str, list[str]]]:
            service.step(health=True)
            return platform.query(query)  # type: ignore[return-value]

        denied = [x for x in (mosquitto.data_dir / "mosquitto.log").read_text().splitlines() if "Denied" in x]
        assert wait_for(lambda: raised() == [(me.device_id, [theirs])], 15), (platform.query(query), denied)
        service.conn.close()
    finally:
        log.close()
