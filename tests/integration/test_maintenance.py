"""Maintenance windows: a device (or zone) being serviced still raises and records its alerts, but its
notifications are held back from the sinks and its critical alerts are not escalated; when the window ends,
the alerts still live are notified then. Pure matching, then the store and the outbox on real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from alerts import outbox, queries, store
from alerts.maintenance import Window, muting
from alerts.model import Clear, Explanation, Raise, Severity
from analytics.service import AnalyticsService
from citywatch.settings import AnalyticsSettings, DatabaseSettings, Settings

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def window(
    id: int = 1,
    subject: str = "aq-1",
    rule: str | None = None,
    start_min: int = -10,
    end_min: int = 60,
    **kw: Any,
) -> Window:
    return Window(
        id,
        subject,
        rule,
        NOW + timedelta(minutes=start_min),
        NOW + timedelta(minutes=end_min),
        "sensor swap",
        "op",
        **kw,
    )


@pytest.mark.parametrize(
    ("w", "subject", "zone", "rule", "at_min", "mutes"),
    [
        (window(), "aq-1", "z1", "aq.stuck", 0, True),
        (window(), "aq-2", "z1", "aq.stuck", 0, False),  # another device
        (window(), "aq-1", "z1", "aq.stuck", -11, False),  # before it starts
        (window(), "aq-1", "z1", "aq.stuck", 60, False),  # at its end
        (window(ended_at=NOW + timedelta(minutes=5)), "aq-1", "z1", "aq.stuck", 6, False),  # ended early
        (window(subject="zone:z1"), "aq-7", "z1", "device.offline", 0, True),  # every device of the zone
        (window(subject="zone:z1"), "cam-9", "z2", "cctv.fire", 0, False),
        (window(subject="zone:z1"), "zone:z1", None, "cctv.incident.fire", 0, True),  # the zone's own alerts
        (window(rule="device"), "aq-1", "z1", "device.offline", 0, True),  # a rule prefix
        (window(rule="device"), "aq-1", "z1", "aq.stuck", 0, False),
        (window(rule="aq"), "aq-1", "z1", "aqx.other", 0, False),  # a prefix is whole name parts
        (window(rule="aq.stuck"), "aq-1", "z1", "aq.stuck", 0, True),
    ],
)
def test_which_alerts_a_window_mutes(
    w: Window, subject: str, zone: str | None, rule: str, at_min: int, mutes: bool
) -> None:
    assert w.covers(subject, zone, rule, NOW + timedelta(minutes=at_min)) is mutes


def test_of_several_windows_the_longest_mutes() -> None:
    short, long = window(1, end_min=30), window(2, end_min=90)
    assert muting([short, long], "aq-1", "z1", "aq.stuck", NOW) == long
    assert muting([short], "aq-1", "z1", "aq.stuck", NOW + timedelta(minutes=31)) is None


# -- on real PostgreSQL ---------------------------------------------------------------------
def raise_(subject: str, rule: str = "aq.stuck", severity: Severity = Severity.WARNING) -> Raise:
    return Raise(rule, subject, "aq", severity, f"{rule} on {subject}", Explanation(rule))


class Sink:
    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []

    def __call__(self, kind: str, payload: bytes) -> None:
        self.got.append(orjson.loads(payload))


@pytest.fixture
def conn(db_url: str):  # type: ignore[no-untyped-def]
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("INSERT INTO zones VALUES ('z1', 'Zone 1'), ('z2', 'Zone 2')")
        c.execute(
            "INSERT INTO devices (device_id, kind, name, zone_id, expected_interval_s) VALUES"
            " ('aq-1', 'aq', 'a', 'z1', 60), ('aq-2', 'aq', 'b', 'z1', 60), ('aq-3', 'aq', 'c', 'z2', 60)"
        )
        yield c


def add_window(c: psycopg.Connection[Any], subject: str, rule: str | None = None, minutes: int = 60) -> int:
    row = c.execute(
        "INSERT INTO maintenance (subject, rule_prefix, starts_at, ends_at, reason, created_by)"
        " VALUES (%s, %s, %s, %s, 'sensor swap', 'op') RETURNING id",
        (subject, rule, NOW - timedelta(minutes=1), NOW + timedelta(minutes=minutes)),
    ).fetchone()
    assert row
    return int(row[0])


def test_a_muted_alert_is_recorded_and_shown_but_not_sent(conn: psycopg.Connection[Any]) -> None:
    wid = add_window(conn, "aq-1")
    muted = store.apply(conn, raise_("aq-1"), NOW)
    heard = store.apply(conn, raise_("aq-2"), NOW)
    assert muted and heard and muted.id and heard.id
    assert conn.execute("SELECT muted_by FROM alerts WHERE id = %s", (muted.id,)).fetchone() == (wid,)
    rows = conn.execute("SELECT alert_id, muted_by, payload FROM alert_outbox ORDER BY id").fetchall()
    assert [(a, m) for a, m, _ in rows] == [(muted.id, wid), (heard.id, None)]  # both on the live stream
    assert rows[0][2]["muted"]["maintenance_id"] == wid and rows[0][2]["muted"]["reason"] == "sensor swap"
    audit = conn.execute(
        "SELECT action, detail FROM alert_audit WHERE alert_id = %s ORDER BY id", (muted.id,)
    ).fetchall()
    assert [a for a, _ in audit] == ["opened", "muted"] and f"maintenance #{wid}" in audit[1][1]
    sink = Sink()
    assert outbox.drain(conn, "mqtt", sink) == 1
    assert [n["subject"] for n in sink.got] == ["aq-2"]  # the sinks never hear of the muted one
    # still muted: a repeat updates the alert (count) and nothing is sent; nothing to release yet
    store.apply(conn, raise_("aq-1"), NOW + timedelta(minutes=1))
    assert store.release(conn, NOW + timedelta(minutes=2)) == 0
    assert outbox.drain(conn, "mqtt", sink) == 0


def test_within_a_batch_a_window_mutes_as_it_does_event_by_event(conn: psycopg.Connection[Any]) -> None:
    """The analytics' batches ask for the windows with each alert's load: the zone's window mutes aq-1 and
    aq-2 (opened and cleared), not aq-3 of another zone."""
    from alerts.config import AlertRules
    from alerts.writer import AlertWriter

    wid = add_window(conn, "zone:z1")
    writer = AlertWriter(lambda: conn, lambda: AlertRules())
    with writer.batch():
        for dev in ("aq-1", "aq-2", "aq-3"):
            writer.apply(f"aq.stuck:{dev}", raise_(dev), NOW)
        writer.apply("aq.stuck:aq-1", Clear("back"), NOW + timedelta(minutes=1))
    rows = conn.execute(
        "SELECT a.subject, o.what, o.muted_by FROM alert_outbox o JOIN alerts a ON a.id = o.alert_id ORDER BY o.id"
    ).fetchall()
    assert rows == [
        ("aq-1", "opened", wid), ("aq-2", "opened", wid), ("aq-3", "opened", None), ("aq-1", "auto_resolved", wid)
    ]  # fmt: skip


def test_when_the_window_ends_the_live_alerts_are_notified_then(conn: psycopg.Connection[Any]) -> None:
    wid = add_window(conn, "zone:z1", minutes=30)
    live = store.apply(conn, raise_("aq-1"), NOW)
    gone = store.apply(conn, raise_("aq-2", "aq.spike"), NOW)
    other_zone = store.apply(conn, raise_("aq-3"), NOW)
    assert live and gone and other_zone
    store.apply(conn, Clear("back"), NOW + timedelta(minutes=5), key=gone.key)  # resolved during maintenance
    sink = Sink()
    assert [n["subject"] for n in (outbox.drain(conn, "hook", sink), sink.got)[1]] == ["aq-3"]
    # an operator ends the window early
    conn.execute(
        "UPDATE maintenance SET ended_at = %s, ended_by = 'op' WHERE id = %s",
        (NOW + timedelta(minutes=10), wid),
    )
    assert store.release(conn, NOW + timedelta(minutes=11)) == 1
    assert store.release(conn, NOW + timedelta(minutes=12)) == 0  # once
    assert outbox.drain(conn, "hook", sink) == 1
    n = sink.got[-1]
    assert (n["subject"], n["what"], n["after_maintenance"]) == ("aq-1", "opened", wid)
    assert conn.execute("SELECT muted_by FROM alerts WHERE id = %s", (live.id,)).fetchone() == (None,)
    actions = [
        r[0]
        for r in conn.execute("SELECT action FROM alert_audit WHERE alert_id = %s ORDER BY id", (live.id,))
    ]
    assert actions == ["opened", "muted", "unmuted"]
    # the alarm load counts what reached the operators when it did: aq-3 at once, aq-1 at its release;
    # the one resolved during maintenance never reached anyone
    items, _live = queries.annunciations(conn, NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert sorted((a.subject, a.at) for a in items) == [
        ("aq-1", NOW + timedelta(minutes=11)),
        ("aq-3", NOW),
    ]


def test_a_longer_window_keeps_the_alert_muted(conn: psycopg.Connection[Any]) -> None:
    short = add_window(conn, "aq-1", minutes=10)
    a = store.apply(conn, raise_("aq-1"), NOW)
    assert a
    long = add_window(conn, "zone:z1", minutes=120)
    assert store.release(conn, NOW + timedelta(minutes=11)) == 0  # the zone's window still holds it
    assert conn.execute("SELECT muted_by FROM alerts WHERE id = %s", (a.id,)).fetchone() == (long,)
    assert short != long
    assert store.release(conn, NOW + timedelta(minutes=121)) == 1


def test_a_muted_critical_alert_is_not_escalated(conn: psycopg.Connection[Any], db_url: str) -> None:
    add_window(conn, "aq-1", minutes=600)
    muted = store.apply(conn, raise_("aq-1", "aq.fire", Severity.CRITICAL), NOW)
    heard = store.apply(conn, raise_("aq-2", "aq.fire", Severity.CRITICAL), NOW)
    assert muted and heard
    service = AnalyticsService(Settings(db=DatabaseSettings(url=db_url)))
    service.alerts.supervisor.escalate(NOW + timedelta(hours=2))
    escalated = dict(conn.execute("SELECT subject, escalated_at IS NOT NULL FROM alerts").fetchall())
    assert escalated == {"aq-1": False, "aq-2": True}


def test_a_window_started_on_a_live_alert_mutes_it_and_stops_its_escalation(
    conn: psycopg.Connection[Any], db_url: str
) -> None:
    from alerts.maintenance import muting_window

    live = store.apply(conn, raise_("aq-1", "aq.fire", Severity.CRITICAL), NOW - timedelta(hours=3))
    assert live
    sink = Sink()
    assert outbox.drain(conn, "hook", sink) == 1  # its opening was heard before the maintenance
    wid = add_window(conn, "aq-1", minutes=60)
    service = AnalyticsService(Settings(db=DatabaseSettings(url=db_url)))
    service.alerts.supervisor.escalate(
        NOW
    )  # under maintenance, even before it is marked muted: not escalated
    assert conn.execute("SELECT escalated_at FROM alerts WHERE id = %s", (live.id,)).fetchone() == (None,)
    w = muting_window(conn, "aq-1", "aq.fire", NOW)
    assert w is not None and w.id == wid
    assert store.mute_live(conn, w, NOW) == 1 and store.mute_live(conn, w, NOW) == 0
    assert conn.execute("SELECT muted_by FROM alerts WHERE id = %s", (live.id,)).fetchone() == (wid,)
    assert (
        store.release(conn, NOW + timedelta(minutes=61)) == 1
    )  # still live after the maintenance: said again
    assert outbox.drain(conn, "hook", sink) == 1 and sink.got[-1]["after_maintenance"] == wid
    service.alerts.supervisor.escalate(NOW + timedelta(minutes=61))  # and escalated again once it is over
    assert conn.execute(
        "SELECT escalated_at IS NOT NULL FROM alerts WHERE id = %s", (live.id,)
    ).fetchone() == (True,)


def test_a_window_planned_ahead_mutes_the_live_alerts_when_it_starts(conn: psycopg.Connection[Any]) -> None:
    live = store.apply(conn, raise_("aq-1"), NOW)
    assert live
    row = conn.execute(
        "INSERT INTO maintenance (subject, starts_at, ends_at, reason, created_by)"
        " VALUES ('aq-1', %s, %s, 'planned works', 'op') RETURNING id",
        (NOW + timedelta(minutes=10), NOW + timedelta(minutes=40)),
    ).fetchone()
    assert row
    assert store.mute_started(conn, NOW + timedelta(minutes=5)) == 0  # not yet
    assert store.mute_started(conn, NOW + timedelta(minutes=11)) == 1
    assert store.mute_started(conn, NOW + timedelta(minutes=12)) == 0  # once
    assert conn.execute("SELECT muted_by FROM alerts WHERE id = %s", (live.id,)).fetchone() == (row[0],)
    assert store.release(conn, NOW + timedelta(minutes=41)) == 1


def test_each_rule_escalates_after_its_own_time(
    conn: psycopg.Connection[Any], db_url: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "policies:\n"
        "  cctv.fire: {escalate_after_s: 120}\n"
        "  cctv.test: {escalate_after_s: null}\n"  # a drill: never escalates
    )
    for subject, rule in (("cam-1", "cctv.fire"), ("cam-2", "cctv.test"), ("aq-1", "aq.other")):
        assert store.apply(conn, raise_(subject, rule, Severity.CRITICAL), NOW)
    settings = Settings(db=DatabaseSettings(url=db_url), analytics=AnalyticsSettings(rules_file=rules))
    service = AnalyticsService(settings)  # the service's default: 600 s

    def escalated() -> set[str]:
        return {r[0] for r in conn.execute("SELECT subject FROM alerts WHERE escalated_at IS NOT NULL")}

    service.alerts.supervisor.escalate(NOW + timedelta(seconds=60))
    assert escalated() == set()
    service.alerts.supervisor.escalate(NOW + timedelta(seconds=130))
    assert escalated() == {"cam-1"}  # the fire's own 2 minutes
    service.alerts.supervisor.escalate(NOW + timedelta(seconds=610))
    assert escalated() == {"cam-1", "aq-1"}  # the default 10 minutes
    service.alerts.supervisor.escalate(NOW + timedelta(days=1))
    assert escalated() == {"cam-1", "aq-1"}  # the drill never
    audit = conn.execute(
        "SELECT detail FROM alert_audit a JOIN alerts l ON l.id = a.alert_id"
        " WHERE l.subject = 'cam-1' AND action = 'escalated'"
    ).fetchone()
    assert audit == ("level 1: unacknowledged for 120s",)


def test_an_unanswered_alert_goes_up_its_rules_chain_and_each_level_reaches_its_own_sink(
    conn: psycopg.Connection[Any], db_url: str, tmp_path: Path
) -> None:
    """Level 1 pages the duty supervisor's gateway, level 2 the centre manager's: each sink hears of the
    alert from the level its route takes; acknowledging stops the chain."""
    from alerts.model import Acknowledge, Resolve
    from alerts.routing import route_for
    from analytics.config import parse

    text = (
        "policies:\n"
        "  cctv.fire: {escalate_after_s: 120, escalate_again_after_s: [480]}\n"
        "notifications:\n"
        "  webhook:*: {min_severity: critical, what: [escalated, resolved]}\n"
        "  webhook:https://sms.example/manager: {min_severity: critical, min_escalation_level: 2}\n"
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(text)
    fire = store.apply(conn, raise_("cam-1", "cctv.fire", Severity.CRITICAL), NOW)
    other = store.apply(conn, raise_("cam-2", "cctv.fire", Severity.CRITICAL), NOW)
    assert fire is not None and fire.id is not None and other is not None and other.id is not None
    service = AnalyticsService(
        Settings(db=DatabaseSettings(url=db_url), analytics=AnalyticsSettings(rules_file=rules))
    )

    def levels() -> dict[str, int]:
        return dict(conn.execute("SELECT subject, escalation_level FROM alerts").fetchall())

    service.alerts.supervisor.escalate(NOW + timedelta(seconds=130))
    assert levels() == {"cam-1": 1, "cam-2": 1}
    store.apply(conn, Acknowledge("kim"), NOW + timedelta(seconds=200), alert_id=other.id)
    service.alerts.supervisor.escalate(NOW + timedelta(seconds=130 + 479))
    assert levels() == {"cam-1": 1, "cam-2": 1}  # level 2 counts from level 1
    service.alerts.supervisor.escalate(NOW + timedelta(seconds=130 + 480))
    assert levels() == {"cam-1": 2, "cam-2": 1}  # cam-2 was answered: its chain stopped
    service.alerts.supervisor.escalate(NOW + timedelta(days=1))
    assert levels() == {"cam-1": 2, "cam-2": 1}  # the end of the chain
    details = [
        d
        for (d,) in conn.execute(
            "SELECT detail FROM alert_audit WHERE alert_id = %s AND action = 'escalated' ORDER BY id",
            (fire.id,),
        )
    ]
    assert details == ["level 1: unacknowledged for 120s", "level 2: unacknowledged 480s after level 1"]
    store.apply(conn, Resolve("kim"), NOW + timedelta(days=1), alert_id=fire.id)

    routes = parse(text).alerting.notifications
    supervisor, manager = Sink(), Sink()
    for name, sink in (
        ("webhook:https://sms.example/duty", supervisor),
        ("webhook:https://sms.example/manager", manager),
    ):
        while outbox.drain(conn, name, sink, route=route_for(name, routes)):
            pass
    got = lambda s: [(n["subject"], n["what"], n["escalation_level"]) for n in s.got]  # noqa: E731
    assert got(supervisor) == [
        ("cam-1", "escalated", 1),
        ("cam-2", "escalated", 1),
        ("cam-1", "escalated", 2),
        ("cam-1", "resolved", 2),
    ]
    assert got(manager) == [("cam-1", "escalated", 2), ("cam-1", "resolved", 2)]


def test_an_acknowledged_alert_still_active_comes_back(
    conn: psycopg.Connection[Any], db_url: str, tmp_path: Path
) -> None:
    from alerts.model import Acknowledge

    rules = tmp_path / "rules.yaml"
    rules.write_text("policies:\n  cctv.fire: {remind_after_s: 1800}\n")
    ids = {}
    for subject in ("cam-1", "cam-2"):
        a = store.apply(conn, raise_(subject, "cctv.fire", Severity.CRITICAL), NOW)
        assert a is not None and a.id is not None
        store.apply(conn, Acknowledge("kim"), NOW + timedelta(minutes=1), alert_id=a.id)
        ids[subject] = a.id
    add_window(conn, "cam-2", minutes=600)  # cam-2 is being serviced: no reminder
    service = AnalyticsService(
        Settings(db=DatabaseSettings(url=db_url), analytics=AnalyticsSettings(rules_file=rules))
    )
    service.alerts.supervisor.remind(NOW + timedelta(minutes=30))
    assert conn.execute("SELECT count(*) FROM alerts WHERE state = 'open'").fetchone() == (0,)
    service.alerts.supervisor.remind(NOW + timedelta(minutes=31))
    states = dict(conn.execute("SELECT subject, state FROM alerts").fetchall())
    assert states == {"cam-1": "open", "cam-2": "acknowledged"}
    sent = conn.execute(
        "SELECT what FROM alert_outbox WHERE alert_id = %s ORDER BY id", (ids["cam-1"],)
    ).fetchall()
    assert [w for (w,) in sent] == ["opened", "acknowledged", "reminded"]
    service.alerts.supervisor.escalate(NOW + timedelta(minutes=32))  # the reminder stood for its escalation
    assert conn.execute("SELECT count(*) FROM alert_outbox WHERE what = 'escalated'").fetchone() == (0,)
