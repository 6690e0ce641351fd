"""The alert state machine: every transition and every illegal one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.lifecycle import transition
from alerts.model import (
    Acknowledge,
    Alert,
    Assign,
    Audit,
    Clear,
    Comment,
    Explanation,
    IllegalTransition,
    Notify,
    Policy,
    Raise,
    Resolve,
    Severity,
    State,
    Tick,
)
from citywatch.i18n import render

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
EXPL = Explanation(rule="flatline", observed=12.0, threshold=30, message="no change for 30 readings")


def raise_(sev: Severity = Severity.WARNING, value: float | None = 1.0) -> Raise:
    return Raise("flatline", "aq-001", "aq", sev, "PM2.5 sensor stuck", EXPL, value)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def opened(sev: Severity = Severity.WARNING) -> Alert:
    a, _ = transition(None, raise_(sev), T0)
    assert a is not None
    return a


def notifies(effects: list[object]) -> list[str]:
    return [e.what for e in effects if isinstance(e, Notify)]


def test_raise_opens_with_audit_and_notification() -> None:
    a, fx = transition(None, raise_(), T0)
    assert a is not None and a.state is State.OPEN and a.key == "flatline:aq-001" and a.count == 1
    assert notifies(fx) == ["opened"]
    assert isinstance(fx[0], Audit) and fx[0].action == "opened"


def test_persisting_condition_updates_one_alert_quietly() -> None:
    a = opened()
    b, fx = transition(a, raise_(value=5.0), at(60))
    c, fx2 = transition(b, raise_(value=3.0), at(120))
    assert c is not None and (c.count, c.last_seen, c.peak) == (3, at(120), 5.0)
    assert fx == [] and fx2 == []


def test_worse_severity_reopens_attention() -> None:
    a, _ = transition(opened(), Acknowledge("kim"), at(10))
    b, fx = transition(a, raise_(Severity.CRITICAL), at(20))
    assert b is not None and b.severity is Severity.CRITICAL and b.state is State.OPEN
    assert b.acknowledged_by is None
    assert notifies(fx) == ["severity_raised"]


def test_lower_severity_keeps_the_higher() -> None:
    a = opened(Severity.CRITICAL)
    b, _ = transition(a, raise_(Severity.INFO), at(5))
    assert b is not None and b.severity is Severity.CRITICAL


@pytest.mark.parametrize("start", [State.OPEN, State.ACKNOWLEDGED])
def test_clear_auto_resolves(start: State) -> None:
    a = opened()
    if start is State.ACKNOWLEDGED:
        a, _ = transition(a, Acknowledge("lee"), at(1))  # type: ignore[assignment]
    b, fx = transition(a, Clear(), at(30))
    assert (
        b is not None and b.state is State.RESOLVED and b.resolved_by == "system" and not b.condition_active
    )
    assert notifies(fx) == ["auto_resolved"]


def test_clear_without_auto_resolve_waits_for_an_operator() -> None:
    b, fx = transition(opened(), Clear(), at(30), Policy(auto_resolve=False))
    assert b is not None and b.state is State.OPEN and not b.condition_active
    assert notifies(fx) == []


def test_clear_on_nothing_or_resolved_is_a_no_op() -> None:
    assert transition(None, Clear(), T0) == (None, [])
    r, _ = transition(opened(), Resolve("kim"), at(5))
    assert transition(r, Clear(), at(6)) == (r, [])


def test_acknowledge_then_resolve() -> None:
    a, fx1 = transition(opened(), Acknowledge("kim"), at(10))
    b, fx2 = transition(a, Resolve("kim", "replaced the sensor"), at(20))
    assert a is not None and a.state is State.ACKNOWLEDGED and a.acknowledged_by == "kim"
    assert b is not None and b.state is State.RESOLVED and b.resolved_by == "kim"
    assert notifies(fx1) == ["acknowledged"] and notifies(fx2) == ["resolved"]
    audit = next(e for e in fx2 if isinstance(e, Audit))
    assert (audit.actor, audit.from_state, audit.to_state, audit.detail) == (
        "kim",
        State.ACKNOWLEDGED,
        State.RESOLVED,
        "replaced the sensor",
    )


def test_resolve_straight_from_open() -> None:
    b, _ = transition(opened(), Resolve("park"), at(5))
    assert b is not None and b.state is State.RESOLVED


def test_recurrence_within_window_reopens() -> None:
    r, _ = transition(opened(), Clear(), at(30))
    b, fx = transition(r, raise_(), at(30 + 600), Policy(reopen_window_s=900))
    assert b is not None and b.state is State.OPEN and b.reopen_count == 1 and b.count == 2
    assert b.opened_at == T0
    assert notifies(fx) == ["reopened"]


def test_recurrence_after_window_is_a_new_alert() -> None:
    r, _ = transition(opened(), Clear(), at(30))
    b, fx = transition(r, raise_(), at(30 + 1000), Policy(reopen_window_s=900))
    assert b is not None and b.state is State.OPEN and b.reopen_count == 0 and b.count == 1
    assert b.opened_at == at(1030)
    assert notifies(fx) == ["opened"]


def test_escalation_of_unacknowledged_critical_once() -> None:
    a = opened(Severity.CRITICAL)
    policy = Policy(escalate_after_s=600)
    assert transition(a, Tick(), at(599), policy) == (a, [])
    b, fx = transition(a, Tick(), at(600), policy)
    assert b is not None and b.escalated_at == at(600) and notifies(fx) == ["escalated"]
    assert transition(b, Tick(), at(1200), policy) == (b, [])


def test_an_unanswered_critical_alert_goes_up_its_chain_level_by_level_to_the_end() -> None:
    policy = Policy(escalate_after_s=120, escalate_again_after_s=(480, 1200))
    a = opened(Severity.CRITICAL)
    b, fx = transition(a, Tick(), at(120), policy)
    assert b is not None and b.escalation_level == 1 and notifies(fx) == ["escalated"]
    assert transition(b, Tick(), at(120 + 479), policy) == (b, [])  # level 2 counts from level 1
    c, fx = transition(b, Tick(), at(120 + 480), policy)
    assert c is not None and c.escalation_level == 2 and c.escalated_at == at(600)
    assert [render(e.detail) for e in fx if isinstance(e, Audit)] == [
        "level 2: unacknowledged 480s after level 1"
    ]
    assert [render(e.detail, "ko") for e in fx if isinstance(e, Audit)] == [
        "2단계: 1단계 뒤 480초 동안 확인되지 않음"
    ]
    assert transition(c, Tick(), at(600 + 1199), policy) == (c, [])
    d, fx = transition(c, Tick(), at(600 + 1200), policy)
    assert d is not None and d.escalation_level == 3 and notifies(fx) == ["escalated"]
    assert transition(d, Tick(), at(100_000), policy) == (d, [])  # the end of the chain


def test_acknowledging_stops_the_chain_and_a_reopened_alert_starts_it_afresh() -> None:
    policy = Policy(escalate_after_s=120, escalate_again_after_s=(480,), reopen_window_s=900)
    b, _ = transition(opened(Severity.CRITICAL), Tick(), at(120), policy)
    acked, _ = transition(b, Acknowledge("kim"), at(130))
    assert acked is not None and acked.escalation_level == 1  # what happened stays on the alert
    assert transition(acked, Tick(), at(10_000), policy) == (acked, [])
    done, _ = transition(acked, Resolve("kim"), at(200))
    again, fx = transition(done, raise_(Severity.CRITICAL), at(300), policy)
    assert again is not None and notifies(fx) == ["reopened"]
    assert again.escalation_level == 0 and again.escalated_at is None


def test_a_reopened_or_worsened_alert_escalates_counting_from_then_not_from_when_it_first_opened() -> None:
    policy = Policy(escalate_after_s=600, reopen_window_s=3600)
    done, _ = transition(opened(Severity.CRITICAL), Resolve("kim"), at(60))
    again, _ = transition(done, raise_(Severity.CRITICAL), at(1200), policy)  # 20 min after it first opened
    assert again is not None and again.open_since == at(1200)
    assert transition(again, Tick(), at(1201), policy) == (again, [])  # not at once
    up, fx = transition(again, Tick(), at(1800), policy)
    assert up is not None and up.escalation_level == 1 and notifies(fx) == ["escalated"]
    worse, fx = transition(opened(Severity.WARNING), raise_(Severity.CRITICAL), at(3000), policy)
    assert worse is not None and notifies(fx) == ["severity_raised"]
    assert transition(worse, Tick(), at(3001), policy) == (worse, [])  # critical only just now
    assert transition(worse, Tick(), at(3600), policy)[0].escalation_level == 1  # type: ignore[union-attr]


def test_a_reminder_stands_for_the_first_level_and_the_chain_goes_on_from_it() -> None:
    policy = Policy(escalate_after_s=600, escalate_again_after_s=(900,), remind_after_s=3600)
    a, _ = transition(opened(Severity.CRITICAL), Acknowledge("kim"), at(60))  # answered before level 1
    b, fx = transition(a, Tick(), at(3660), policy)
    assert b is not None and notifies(fx) == ["reminded"] and b.escalation_level == 1
    assert transition(b, Tick(), at(3660 + 899), policy) == (b, [])  # no level 2 at once after the reminder
    c, fx = transition(b, Tick(), at(3660 + 900), policy)  # nobody answers the reminder: level 2
    assert c is not None and c.escalation_level == 2 and notifies(fx) == ["escalated"]


@pytest.mark.parametrize("sev", [Severity.INFO, Severity.WARNING])
def test_no_escalation_below_critical(sev: Severity) -> None:
    a = opened(sev)
    assert transition(a, Tick(), at(10_000)) == (a, [])


def test_no_escalation_once_acknowledged() -> None:
    a, _ = transition(opened(Severity.CRITICAL), Acknowledge("kim"), at(5))
    assert transition(a, Tick(), at(10_000)) == (a, [])


def test_assign_and_comment_are_audited() -> None:
    a, fx = transition(opened(), Assign("kim", "choi"), at(5))
    assert a is not None and a.assignee == "choi"
    b, fx2 = transition(a, Comment("choi", "on my way"), at(6))
    assert b == a
    assert [e.action for e in fx + fx2 if isinstance(e, Audit)] == ["assigned", "commented"]
    r, _ = transition(b, Resolve("choi"), at(7))
    _, fx3 = transition(r, Comment("kim", "thanks"), at(8))  # comments stay possible after resolution
    assert [e.action for e in fx3 if isinstance(e, Audit)] == ["commented"]


def _resolved() -> Alert:
    r, _ = transition(opened(), Resolve("kim"), at(1))
    assert r is not None
    return r


def _acked() -> Alert:
    a, _ = transition(opened(), Acknowledge("kim"), at(1))
    assert a is not None
    return a


ILLEGAL = [
    ("ack-nothing", lambda: None, Acknowledge("kim")),
    ("ack-acked", _acked, Acknowledge("lee")),
    ("ack-resolved", _resolved, Acknowledge("kim")),
    ("resolve-nothing", lambda: None, Resolve("kim")),
    ("resolve-resolved", _resolved, Resolve("kim")),
    ("assign-resolved", _resolved, Assign("kim", "lee")),
    ("assign-nothing", lambda: None, Assign("kim", "lee")),
    ("comment-nothing", lambda: None, Comment("kim", "hi")),
]


@pytest.mark.parametrize(("make", "event"), [c[1:] for c in ILLEGAL], ids=[c[0] for c in ILLEGAL])
def test_illegal_transitions(make, event) -> None:  # type: ignore[no-untyped-def]
    alert = make()
    with pytest.raises(IllegalTransition) as e:
        transition(alert, event, at(100))
    assert e.value.state == (alert.state if alert else None)


def test_replayed_events_change_nothing() -> None:
    a, _ = transition(opened(), raise_(), at(60))
    assert a is not None
    assert transition(a, raise_(), at(60)) == (a, [])
    assert transition(a, raise_(), at(30)) == (a, [])
    assert transition(a, Clear(), at(30)) == (a, [])
    r, _ = transition(a, Clear(), at(90))
    assert r is not None and r.state is State.RESOLVED
    assert transition(r, raise_(), at(60)) == (r, [])  # the old raise, replayed: no re-open


def test_an_acknowledged_alert_still_active_is_reminded_once_then_again_after_each_acknowledgement() -> None:
    policy = Policy(escalate_after_s=600, remind_after_s=3600)
    a, _ = transition(opened(Severity.CRITICAL), Acknowledge("kim"), at(60))
    assert transition(a, Tick(), at(60 + 3599), policy) == (a, [])
    b, fx = transition(a, Tick(), at(60 + 3600), policy)
    assert b is not None and b.state is State.OPEN and b.acknowledged_by is None
    assert notifies(fx) == ["reminded"]
    assert [render(e.detail) for e in fx if isinstance(e, Audit)] == [
        "still active 60 min after kim acknowledged it"
    ]
    # the reminder stood for its escalation: nothing more until someone acknowledges it again
    assert transition(b, Tick(), at(60 + 7200), policy) == (b, [])
    c, _ = transition(b, Acknowledge("lee"), at(5000))
    d, fx = transition(c, Tick(), at(5000 + 3600), policy)
    assert d is not None and d.state is State.OPEN and notifies(fx) == ["reminded"]


def test_no_reminder_when_the_condition_cleared_or_the_rule_has_none() -> None:
    a, _ = transition(opened(), Acknowledge("kim"), at(5))
    assert transition(a, Tick(), at(100_000)) == (a, [])  # no remind_after_s: never
    cleared, _ = transition(a, Clear(), at(10), Policy(auto_resolve=False))
    assert cleared is not None and cleared.state is State.ACKNOWLEDGED and not cleared.condition_active
    assert transition(cleared, Tick(), at(100_000), Policy(remind_after_s=60)) == (cleared, [])


def restated(sev: Severity, title: str, value: float = 1.0) -> Raise:
    return Raise("aq.advisory.pm25", "zone:z1", "aq", sev, title, EXPL, value, restate=True)


def test_a_restated_level_takes_the_alert_down_with_an_audit_entry_and_a_notification() -> None:
    a, _ = transition(None, restated(Severity.CRITICAL, "PM2.5 warning (경보)", 160), T0)
    a, _ = transition(a, Acknowledge("kim"), at(10))
    b, fx = transition(a, restated(Severity.WARNING, "PM2.5 advisory (주의보)", 90), at(3600))
    assert b is not None and (b.severity, b.title) == (Severity.WARNING, "PM2.5 advisory (주의보)")
    assert b.state is State.ACKNOWLEDGED and b.peak == 160  # lowering is not new attention; the peak stays
    assert notifies(fx) == ["level_changed"]
    audit = [e for e in fx if isinstance(e, Audit)]
    assert [(e.action, render(e.detail)) for e in audit] == [
        ("level_changed", "PM2.5 warning (경보) -> PM2.5 advisory (주의보)")
    ]
    # a level within one severity (ozone 중대경보 -> 경보, both critical) changes the title the same way
    c, _ = transition(None, restated(Severity.CRITICAL, "O3 grave warning (중대경보)"), T0)
    d, fx = transition(c, restated(Severity.CRITICAL, "O3 warning (경보)"), at(3600))
    assert d is not None and d.title == "O3 warning (경보)" and notifies(fx) == ["level_changed"]
    # the same level again is only counted
    e, fx = transition(d, restated(Severity.CRITICAL, "O3 warning (경보)", 0.4), at(7200))
    assert e is not None and fx == [] and (e.count, e.peak) == (3, 1.0)


def test_without_restate_a_lower_severity_never_retitles() -> None:
    a, _ = transition(None, raise_(Severity.CRITICAL), T0)
    b, fx = transition(a, Raise("flatline", "aq-001", "aq", Severity.INFO, "other", EXPL, 1.0), at(5))
    assert b is not None and (b.severity, b.title, fx) == (Severity.CRITICAL, "PM2.5 sensor stuck", [])


def test_two_conditions_of_one_reading_are_both_taken_in_order() -> None:
    """A lot's "almost full" and "full" carry the same timestamp: the second is worse, not a replay."""
    a, _ = transition(None, raise_(Severity.WARNING), T0)
    b, fx = transition(a, Raise("flatline", "aq-001", "aq", Severity.CRITICAL, "full", EXPL, 2.0), T0)
    assert b is not None and (b.severity, b.title, b.count) == (Severity.CRITICAL, "full", 2)
    assert notifies(fx) == ["severity_raised"]
    # replayed in the same order, neither changes anything
    assert transition(b, raise_(Severity.WARNING), T0) == (b, [])
    assert transition(b, Raise("flatline", "aq-001", "aq", Severity.CRITICAL, "full", EXPL, 2.0), T0) == (
        b,
        [],
    )


def test_a_raise_from_before_the_alert_was_resolved_does_not_reopen_it() -> None:
    a, _ = transition(None, raise_(), T0)
    r, _ = transition(a, Resolve("kim"), at(600))
    assert r is not None
    worse = Raise("flatline", "aq-001", "aq", Severity.CRITICAL, "worse", EXPL, 2.0)
    assert transition(r, worse, at(300)) == (r, [])  # re-evaluated data older than the operator's resolve
    o, fx = transition(r, worse, at(601))
    assert o is not None and o.state is State.OPEN and notifies(fx) == ["reopened"]


def test_an_operator_confirms_an_unconfirmed_advisory_and_it_takes_its_full_severity() -> None:
    from alerts.model import Confirm

    then = {"severity": 3, "title": "O3 grave warning (중대경보): aq-001"}
    why = Explanation(rule="aq.advisory.o3", details={"confirmed": False, "if_confirmed": then})
    unconfirmed = Raise(
        "aq.advisory.o3",
        "aq-001",
        "aq",
        Severity.WARNING,
        "O3 중대경보, unconfirmed (미확인)",
        why,
        restate=True,
    )
    a, _ = transition(None, unconfirmed, T0)
    b, fx = transition(a, Confirm("kim", "checked the analyser on site"), at(60))
    assert b is not None and (b.severity, b.title) == (Severity.CRITICAL, then["title"])
    assert b.explanation.details["confirmed_by"] == "kim" and "if_confirmed" not in b.explanation.details
    assert notifies(fx) == ["level_changed"]
    assert [(e.action, e.actor) for e in fx if isinstance(e, Audit)] == [("confirmed", "kim")]
    with pytest.raises(IllegalTransition):  # confirmed already: nothing left to confirm
        transition(b, Confirm("lee"), at(120))
    with pytest.raises(IllegalTransition):  # an alert that was never unconfirmed
        transition(opened(), Confirm("kim"), at(60))
