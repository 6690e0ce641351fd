"""The platform watching its own pagers: a sink that does not take notifications (failing, hanging) or
whose cap holds them back is one ``platform.notifications`` alert — pure rules, then the analytics
service against a real webhook that refuses connections, on PostgreSQL, clearing once it delivers."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from alerts import outbox, store
from alerts.delivery import RULE, DeliveryConfig, SinkState, troubled
from alerts.model import Explanation, Raise, Severity
from alerts.routing import shown
from analytics.config import parse
from analytics.service import AnalyticsService
from citywatch.settings import AnalyticsSettings, DatabaseSettings, Settings
from citywatch.strict import RulesError

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
SMS = "webhook:https://sms.example/hook?token=s3cret"
CFG = DeliveryConfig()


def test_a_sink_that_takes_nothing_for_five_minutes_is_one_critical_alert_saying_why() -> None:
    late = SinkState(SMS, waiting=12, oldest_s=420.0, last_error="HTTP 503", attempts=9)
    (subject, event), = troubled([late, SinkState("mqtt", 0, None)], CFG, NOW).items()  # fmt: skip
    assert subject == "sink:webhook:https://sms.example/…" and "s3cret" not in repr(event)
    assert event.rule == RULE and event.severity is Severity.CRITICAL and event.kind == "platform"
    assert (
        event.explanation.message
        == "12 notification(s) waiting, the oldest for 7 min; last error: HTTP 503 (attempt 9)"
    )
    assert event.explanation.threshold == 300


@pytest.mark.parametrize(
    ("state", "raised"),
    [
        (SinkState("mqtt", 3, 299.0), None),  # a moment late: retries are normal
        (SinkState("mqtt", 3, 300.0), Severity.CRITICAL),
        (SinkState("mqtt", 0, None, held=40, held_since=NOW - timedelta(minutes=29)), None),
        (SinkState("mqtt", 0, None, held=40, held_since=NOW - timedelta(minutes=30)), Severity.WARNING),
        (
            SinkState("mqtt", 2, 900.0, held=40, held_since=NOW - timedelta(hours=2)),
            Severity.CRITICAL,
        ),  # worse first
    ],
)
def test_late_and_held_back(state: SinkState, raised: Severity | None) -> None:
    found = troubled([state], CFG, NOW)
    assert (found["sink:mqtt"].severity if found else None) == raised


def test_held_back_says_how_many_and_that_a_digest_follows() -> None:
    capped = SinkState(SMS, 0, None, held=40, held_since=NOW - timedelta(minutes=45))
    (event,) = troubled([capped], CFG, NOW).values()
    assert event.explanation.message.startswith("40 notification(s) held back for 45 min (max_per_hour)")
    assert troubled([capped], DeliveryConfig(enabled=False), NOW) == {}


def test_the_rules_file_section_is_validated() -> None:
    assert parse("delivery: {late_s: 120}").alerting.delivery.late_s == 120
    for text, where in (
        ("delivery: {late_s: 5}", "delivery.late_s"),
        ("delivery: {late: 5}", "delivery.late"),
    ):
        with pytest.raises(RulesError) as e:
            parse(text)
        assert e.value.where == where
    assert shown("mqtt") == "mqtt" and shown("webhook:http://gw:8080/") == "webhook:http://gw:8080"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once closed: connections are refused


def _service_with_down_webhook(
    db_url: str, tmp_path: Path, path: str, rules_text: str
) -> tuple[AnalyticsService, str]:
    """The analytics service with these rules and one webhook, at ``path`` on a port nobody listens on."""
    url = f"http://127.0.0.1:{_closed_port()}{path}"
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_text)
    service = AnalyticsService(
        Settings(db=DatabaseSettings(url=db_url), analytics=AnalyticsSettings(rules_file=rules, webhooks=url))
    )
    return service, url


def test_the_service_raises_it_for_a_real_webhook_that_refuses_and_clears_it_once_it_delivers(
    db_url: str, tmp_path: Path
) -> None:
    service, url = _service_with_down_webhook(
        db_url, tmp_path, "/hook?token=s3cret", "delivery: {late_s: 60}\n"
    )
    name = f"webhook:{url}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        fire = Raise("cctv.fire", "cam-1", "cctv", Severity.CRITICAL, "Fire", Explanation("cctv.fire"))
        store.apply(conn, fire, NOW)
        hook = service.alerts.dispatcher.sinks[name]
        outbox.drain(conn, name, hook)  # the real webhook, refused: recorded, retried later
        service.alerts.supervisor.watch_sinks(NOW)
        assert conn.execute("SELECT count(*) FROM alerts WHERE rule = %s", (RULE,)).fetchone() == (0,)
        conn.execute("UPDATE alert_outbox SET created_at = now() - interval '2 minutes'")  # it has waited
        service.alerts.supervisor.watch_sinks(NOW)
        row: Any = conn.execute(
            "SELECT subject, severity, state, explanation->>'message' FROM alerts WHERE rule = %s", (RULE,)
        ).fetchone()
        assert row[:3] == (f"sink:webhook:http://127.0.0.1:{url.split(':')[2].split('/')[0]}/…", 3, "open")
        assert (
            "1 notification(s) waiting, the oldest for 2 min; last error:" in row[3]
            and "s3cret" not in row[3]
        )
        service.alerts.supervisor.watch_sinks(
            NOW + timedelta(minutes=1)
        )  # still down: the one alert, not another
        assert conn.execute("SELECT count(*) FROM alerts WHERE rule = %s", (RULE,)).fetchone() == (1,)
        # the gateway is back: everything waiting is taken (the alert about it too), and the alert clears
        got: list[bytes] = []
        conn.execute("UPDATE alert_deliveries SET next_attempt_at = now()")
        while outbox.drain(conn, name, lambda _kind, body: got.append(body)):
            pass
        assert len(got) == 2  # the fire, and the news that this very sink was down
        service.alerts.supervisor.watch_sinks(NOW + timedelta(minutes=2))
        assert conn.execute("SELECT state, resolved_by FROM alerts WHERE rule = %s", (RULE,)).fetchone() == (
            "resolved",
            "system",
        )


def test_a_capped_sink_that_then_fails_is_the_same_alert_raised_to_critical(
    db_url: str, tmp_path: Path
) -> None:
    service, url = _service_with_down_webhook(
        db_url, tmp_path, "/sms", "delivery: {late_s: 60, held_s: 60}\n"
    )
    name = f"webhook:{url}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DELETE FROM alerts WHERE rule = %s", (RULE,))
        conn.execute(
            "INSERT INTO outbox_cursors (sink, next_id, held, held_since) VALUES (%s, 0, 7, now() - interval '5 minutes')"
            " ON CONFLICT (sink) DO UPDATE SET held = 7, held_since = excluded.held_since",
            (name,),
        )
        now = datetime.now(UTC)
        service.alerts.supervisor.watch_sinks(now)
        first: Any = conn.execute(
            "SELECT id, severity FROM alerts WHERE rule = %s AND state = 'open'", (RULE,)
        ).fetchall()
        assert [r[1] for r in first] == [2]  # held back by its cap: a warning
        service.alerts.supervisor.watch_sinks(now + timedelta(seconds=30))  # unchanged: nothing new
        assert conn.execute(
            "SELECT count(*) FROM alert_audit WHERE alert_id = %s", (first[0][0],)
        ).fetchone() == (1,)
        # now it also refuses what it is sent, for longer than late_s: the same alert, critical
        store.apply(
            conn,
            Raise("cctv.fire", "cam-9", "cctv", Severity.CRITICAL, "Fire", Explanation("cctv.fire")),
            NOW,
        )
        outbox.drain(conn, name, service.alerts.dispatcher.sinks[name])
        conn.execute("UPDATE alert_outbox SET created_at = now() - interval '2 minutes'")
        service.alerts.supervisor.watch_sinks(now + timedelta(minutes=1))
        rows: Any = conn.execute(
            "SELECT id, severity, title FROM alerts WHERE rule = %s AND state <> 'resolved'", (RULE,)
        ).fetchall()
        assert [(r[0], r[1]) for r in rows] == [(first[0][0], 3)]
        assert rows[0][2].startswith("Notifications not getting through")
        actions = [
            a
            for (a,) in conn.execute(
                "SELECT action FROM alert_audit WHERE alert_id = %s ORDER BY id", (first[0][0],)
            )
        ]
        assert "severity_raised" in actions
