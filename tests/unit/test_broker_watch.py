"""What the broker says of devices it turned away (analytics/broker_watch.py), from Mosquitto's own log lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.model import Clear, Raise
from analytics.broker_watch import LOGINS, REFUSED, TAKEOVER, BrokerConfig, BrokerWatch

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
# as Mosquitto 2.0 writes them on $SYS/broker/log/N (notice) and /D (debug), its timestamp first
REFUSED_LOGIN = [
    "1796578930: New connection from 10.20.0.7:44624 on port 1883.",
    "1796578930: Client <unknown> disconnected, not authorised.",
]
TAKEN = "1796578931: Client aq-007 already connected, closing old connection."
DENIED = "1796578932: Denied PUBLISH from aq-007 (d0, q1, r0, m1, 'cw/v1/aq/aq-008/data', ... (12 bytes))"
OK = "1796578933: New client connected from 10.20.0.9:50000 as aq-009 (p2, c1, k60, u'aq-009')."


def test_refused_logins_are_counted_by_address_and_alert_over_the_threshold() -> None:
    w = BrokerWatch(BrokerConfig(failed_logins=3))
    for i in range(2):
        for line in REFUSED_LOGIN:
            w.feed(line, T0 + timedelta(seconds=i))
    w.feed(OK, T0 + timedelta(seconds=3))  # an accepted connection is not counted
    assert w.evaluate(T0 + timedelta(seconds=4)) == []  # two: under the threshold
    w.feed("1796578940: New connection from 192.0.2.1:1000 on port 8883.", T0 + timedelta(seconds=5))
    w.feed(REFUSED_LOGIN[1], T0 + timedelta(seconds=5))
    ((key, ev, _at),) = w.evaluate(T0 + timedelta(seconds=6))
    assert key == f"{LOGINS}:broker" and isinstance(ev, Raise)
    assert ev.title == "Failed device logins: 3 in 10 min"
    assert ev.explanation.details["addresses"] == {"10.20.0.7": 2, "192.0.2.1": 1}
    assert w.evaluate(T0 + timedelta(seconds=7)) == []  # no new failure: not raised again
    for line in REFUSED_LOGIN:
        w.feed(line, T0 + timedelta(seconds=8))
    assert [k for k, _e, _a in w.evaluate(T0 + timedelta(seconds=9))] == [key]  # grown: the alert counts it
    ((key2, clear, _),) = w.evaluate(T0 + timedelta(minutes=11))  # the window has passed
    assert key2 == key and isinstance(clear, Clear)
    assert w.evaluate(T0 + timedelta(minutes=12)) == []


def test_a_client_id_taken_over_and_a_refused_publish_name_the_device() -> None:
    w = BrokerWatch(BrokerConfig(takeovers=2))
    assert w.feed(TAKEN, T0) is not None and w.feed(DENIED, T0) is not None
    out = {k: e for k, e, _a in w.evaluate(T0 + timedelta(seconds=1))}
    assert list(out) == [f"{REFUSED}:aq-007"]  # one take-over: under its threshold; one refusal: enough
    refused = out[f"{REFUSED}:aq-007"]
    assert isinstance(refused, Raise) and refused.explanation.details["topics"] == ["cw/v1/aq/aq-008/data"]
    w.feed(TAKEN, T0 + timedelta(seconds=2))
    out = {k: e for k, e, _a in w.evaluate(T0 + timedelta(seconds=3))}
    assert list(out) == [f"{TAKEOVER}:aq-007"]
    assert (
        out[f"{TAKEOVER}:aq-007"].title == "Two connections use one identity: aq-007 (2 take-overs in 10 min)"
    )


def test_a_disabled_watch_raises_nothing_and_clears_what_it_raised() -> None:
    w = BrokerWatch(BrokerConfig(refused_publishes=1))
    w.feed(DENIED, T0)
    assert len(w.evaluate(T0)) == 1
    w.config = BrokerConfig(enabled=False)
    w.feed(DENIED, T0 + timedelta(seconds=1))
    out = w.evaluate(T0 + timedelta(seconds=2))
    assert [type(e) for _k, e, _a in out] == [Clear]


def test_the_refused_publishes_are_read_from_the_brokers_log_file_as_it_grows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Mosquitto writes a refused publish to its file only: the file's new whole lines with one are read
    once each, a line being written waits, and a rotated (shorter) file is read from its start."""
    from analytics.broker_log import BrokerLog
    from citywatch.mqtt import Connection

    path = tmp_path / "mosquitto.log"
    path.write_text("2026-12-06T21:00:00: Denied PUBLISH from old (d0, q1, r0, m1, 'cw/v1/aq/x/telemetry')\n")
    log = BrokerLog(
        Connection(host="127.0.0.1", port=1, client_id="t", username="u", password="p"), file=path
    )  # never started: no broker

    def denied() -> list[str]:
        return [line.split("from ")[1].split()[0] for line, _at in log.take()]

    assert denied() == []  # what the file held before the watch began is not news
    with path.open("a") as f:
        f.write(
            "2026-12-06T21:00:01: Received PUBLISH from aq-1 (d0, q1, r0, m2, 'cw/v1/aq/aq-1/telemetry')\n"
        )
        f.write("2026-12-06T21:00:02: Denied PUBLISH from aq-1 (d0, q1, r0, m3, 'cw/v1/aq/aq-2/telemetry')\n")
        f.write("2026-12-06T21:00:03: Denied PUBLISH from aq-3 (d0, q1")  # still being written
    assert denied() == ["aq-1"] and denied() == []
    with path.open("a") as f:
        f.write(", r0, m4, 'cw/v1/aq/aq-4/telemetry')\n")
    assert denied() == ["aq-3"]
    path.write_text(
        "2026-12-06T22:00:00: Denied PUBLISH from aq-5 (d0, q1, r0, m1, 'cw/v1/aq/aq-6/x')\n"
    )  # rotated
    assert denied() == ["aq-5"]
