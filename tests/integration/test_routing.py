"""Notification routing: which notifications each sink is sent (pure), the rules file's section, and the
outbox honouring it on real PostgreSQL (refused ones recorded as handled, with the reason, never sent)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from alerts import outbox, store
from alerts.model import Explanation, Raise, Severity
from alerts.routing import Route, route_for
from analytics.config import default_text, parse
from analytics.service import AnalyticsService
from citywatch.settings import AnalyticsSettings, DatabaseSettings, Settings
from citywatch.strict import RulesError


def n(
    severity: str = "critical", kind: str = "cctv", rule: str = "cctv.fire", what: str = "opened"
) -> dict[str, Any]:
    return {"severity": severity, "kind": kind, "rule": rule, "what": what}


@pytest.mark.parametrize(
    ("route", "note", "refused"),
    [
        (Route(), n(severity="info"), None),
        (Route(min_severity="warning"), n(severity="info"), "severity info below warning"),
        (Route(min_severity="warning"), n(severity="warning"), None),
        (Route(min_severity="critical"), n(severity="warning"), "severity warning below critical"),
        (Route(kinds=("aq",)), n(kind="cctv"), "kind cctv not routed"),
        (Route(kinds=("aq", "cctv")), n(kind="cctv"), None),
        (Route(rules=("aq.advisory",)), n(rule="aq.advisory.pm25"), None),
        (Route(rules=("aq.advisory",)), n(rule="aq.advisoryx"), "rule aq.advisoryx not routed"),
        (Route(rules=("cctv",)), n(rule="cctv.incident.fire"), None),
        (Route(what=("opened", "escalated")), n(what="acknowledged"), "acknowledged not routed"),
        (Route(what=("opened", "escalated")), n(what="escalated"), None),
        (Route(min_escalation_level=2), n(what="opened"), "escalation level 0 below 2"),
        (
            Route(min_escalation_level=2),
            {**n(what="escalated"), "escalation_level": 1},
            "escalation level 1 below 2",
        ),
        (Route(min_escalation_level=2), {**n(what="escalated"), "escalation_level": 2}, None),
        (Route(min_escalation_level=2), {**n(what="resolved"), "escalation_level": 3}, None),
    ],
)
def test_a_route_takes_or_refuses_a_notification(
    route: Route, note: dict[str, Any], refused: str | None
) -> None:
    assert route.refuses(note) == refused


def test_the_most_specific_route_wins() -> None:
    every, sms = Route(min_severity="warning"), Route(min_severity="critical")
    routes = {"webhook:*": every, "webhook:https://sms.example/hook": sms}
    assert route_for("webhook:https://sms.example/hook", routes) is sms
    assert route_for("webhook:https://mail.example/hook", routes) is every
    assert route_for("mqtt", routes) is None  # not named: everything


def test_the_packaged_rules_keep_info_off_the_webhooks() -> None:
    rules = parse(default_text())
    assert route_for("webhook:https://x.example", rules.alerting.notifications) == Route(
        min_severity="warning"
    )
    assert route_for("mqtt", rules.alerting.notifications) is None


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("notifications: {sms: {}}", "notifications.sms"),
        ("notifications: {'webhook:*': {what: [opend]}}", "notifications.webhook:*.what"),
        ("notifications: {'webhook:*': {min_severity: loud}}", "notifications.webhook:*.min_severity"),
        ("notifications: {mqtt: {kind: [aq]}}", "notifications.mqtt.kind"),
        ("notifications: {'webhook:*': {max_per_hour: 0}}", "notifications.webhook:*.max_per_hour"),
    ],
)
def test_invalid_routes_name_the_key(text: str, where: str) -> None:
    with pytest.raises(RulesError) as e:
        parse(text)
    assert e.value.where == where


def test_the_outbox_sends_a_sink_only_what_its_route_takes(db_url: str) -> None:
    got: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    with psycopg.connect(db_url, autocommit=True) as conn:
        for subject, severity in (
            ("aq-1", Severity.INFO),
            ("cam-1", Severity.CRITICAL),
            ("aq-2", Severity.WARNING),
        ):
            store.apply(conn, Raise("x.rule", subject, "aq", severity, subject, Explanation("x.rule")), now)
        route = Route(min_severity="warning")
        assert outbox.drain(conn, "webhook:sms", lambda _k, p: got.append(orjson.loads(p)), route=route) == 2
        assert outbox.drain(conn, "webhook:sms", lambda _k, p: got.append(orjson.loads(p)), route=route) == 0
        assert [g["subject"] for g in got] == ["cam-1", "aq-2"]  # in order, the info one left out
        rows = conn.execute(
            "SELECT o.payload->>'subject', d.last_error FROM alert_deliveries d JOIN alert_outbox o ON o.id = d.outbox_id"
            " ORDER BY o.id"
        ).fetchall()
    assert rows == [("aq-1", "not routed here: severity info below warning"), ("cam-1", None), ("aq-2", None)]


def test_a_sink_capped_per_hour_is_sent_a_digest_of_what_it_was_spared(db_url: str) -> None:
    got: list[dict[str, Any]] = []
    fail = [False]

    def sms(_kind: str, payload: bytes) -> None:
        if fail[0]:
            raise ConnectionError("gateway down")
        got.append(orjson.loads(payload))

    route = Route(max_per_hour=2)
    now = datetime.now(UTC)
    with psycopg.connect(db_url, autocommit=True) as conn:

        def storm(n: int, severity: Severity, prefix: str) -> None:
            for i in range(n):
                store.apply(
                    conn, Raise("x.rule", f"{prefix}-{i}", "cctv", severity, "x", Explanation("x.rule")), now
                )

        storm(4, Severity.CRITICAL, "cam")
        storm(1, Severity.WARNING, "aq")
        assert outbox.drain(conn, "webhook:sms", sms, route=route) == 2  # its hour's worth
        assert [g["subject"] for g in got] == ["cam-0", "cam-1"]
        held = conn.execute(
            "SELECT count(*) FROM alert_deliveries WHERE sink = 'webhook:sms' AND last_error LIKE 'held back%%'"
        ).fetchone()
        assert held == (3,)
        assert outbox.drain(conn, "webhook:sms", sms, route=route) == 0  # still within the hour: nothing
        assert len(got) == 2 and outbox.pending(conn, "webhook:sms")[0] == 0  # held ones are handled
        # an hour later the gateway is down: the digest waits, with backoff, and nothing overtakes it
        conn.execute("UPDATE alert_deliveries SET delivered_at = delivered_at - interval '61 minutes'")
        storm(1, Severity.CRITICAL, "fire")
        fail[0] = True
        assert outbox.drain(conn, "webhook:sms", sms, route=route) == 0
        row = conn.execute(
            "SELECT digest_attempts, digest_next_at > now() FROM outbox_cursors WHERE sink = 'webhook:sms'"
        ).fetchone()
        assert row == (1, True)
        assert outbox.drain(conn, "webhook:sms", sms, route=route) == 0  # backing off
        conn.execute("UPDATE outbox_cursors SET digest_next_at = now()")
        fail[0] = False
        assert outbox.drain(conn, "webhook:sms", sms, route=route) == 1
    digest, fire = got[2], got[3]
    assert digest["what"] == "digest" and digest["held"] == 3
    assert digest["by_severity"] == {"critical": 2, "warning": 1} and digest["severity"] == "critical"
    assert str(digest["notification_id"]).startswith("digest:") and "held back" in digest["title"]
    assert fire["subject"] == "fire-0"  # after the digest, in order


def test_the_service_follows_the_rules_file_and_its_edits(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text("notifications: {'webhook:*': {min_severity: critical}}\n")
    settings = Settings(
        db=DatabaseSettings(url=db_url),
        analytics=AnalyticsSettings(rules_file=f, webhooks="http://127.0.0.1:9/hook"),
    )
    service = AnalyticsService(settings)
    assert route_for("webhook:http://127.0.0.1:9/hook", service.alerts.dispatcher.routes) == Route(
        min_severity="critical"
    )
    f.write_text("notifications: {}\n")
    os.utime(f, (f.stat().st_atime + 5, f.stat().st_mtime + 5))
    service._reload_rules()
    assert route_for("webhook:http://127.0.0.1:9/hook", service.alerts.dispatcher.routes) is None
