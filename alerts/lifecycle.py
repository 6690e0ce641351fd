"""The alert lifecycle as one pure transition function.

``transition(alert, event, now, policy) -> (alert, effects)``

    (none) --Raise--> open --Acknowledge--> acknowledged --Resolve--> resolved
                       |  \\______________________Resolve___________/   |
                       |---Clear (auto_resolve)----------------------->|
    resolved --Raise within reopen window--> open (reopened)
    resolved --Raise after the window--> a new alert

A persisting condition updates one alert (count, last seen, peak, severity): the severity stays the
worst it has been, unless the Raise *restates* the condition's level (an advisory lowered from 경보 to
주의보), whose severity and title the alert then takes, down as well as up (``level_changed``).
Raise and Clear events timed before what the alert has already seen are replays (re-evaluating a range)
and change nothing; so is a Raise at the very time it last saw, unless it says something new (a worse
severity, or a restated level), for one reading can raise two conditions in order ("almost full", then
"full"); and so is a Raise at or before the time its alert was resolved.
Critical alerts left open past ``escalate_after_s`` are escalated on Tick (level 1); still
unacknowledged ``escalate_again_after_s[k]`` after level k+1, they go up to the next level, to the end
of the chain (see :func:`next_escalation`).
An acknowledged alert whose condition is still active ``remind_after_s`` after it was acknowledged goes
back to open on Tick (``reminded``): acknowledging is not forgetting. The reminder stands for an
escalation (at least level 1), and the chain goes on from it if nobody acknowledges it again.
Every change yields an Audit effect; what live consumers must hear yields a
Notify effect. Adapters execute effects only after the commit.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from alerts.model import (
    Acknowledge,
    Alert,
    Assign,
    Audit,
    Clear,
    Comment,
    Confirm,
    Effect,
    Event,
    IllegalTransition,
    Notify,
    Policy,
    Raise,
    Resolve,
    Severity,
    State,
    Step,
    Tick,
    title_text,
)
from citywatch.i18n import Text

SYSTEM = "system"


def next_escalation(
    open_since: datetime, escalated_at: datetime | None, level: int, policy: Policy
) -> tuple[int, datetime] | None:
    """The escalation level an open, unacknowledged critical alert reaches next, and when; None: never.

    Level 1 comes ``escalate_after_s`` after it opened (or was re-opened, or raised to a worse severity:
    ``open_since``); level k+1 comes ``escalate_again_after_s[k-1]``
    after level k was reached (or after the reminder that stood for it), to the end of the chain."""
    if level == 0 or escalated_at is None:
        if policy.escalate_after_s is None or level > 0:
            return None
        return 1, open_since + timedelta(seconds=policy.escalate_after_s)
    if level > len(policy.escalate_again_after_s):
        return None  # the end of the chain
    return level + 1, escalated_at + timedelta(seconds=policy.escalate_again_after_s[level - 1])


def _new(ev: Raise, now: datetime) -> tuple[Alert, list[Effect]]:
    alert = Alert(
        key=ev.key,
        rule=ev.rule,
        subject=ev.subject,
        kind=ev.kind,
        severity=ev.severity,
        state=State.OPEN,
        title=ev.title,
        explanation=ev.explanation,
        opened_at=now,
        last_seen=now,
        peak=ev.value,
    )
    return alert, [
        Audit("opened", SYSTEM, None, State.OPEN, title_text(ev.title, ev.explanation)),
        Notify("opened"),
    ]


def _peak(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _replayed(alert: Alert, event: Raise, now: datetime) -> bool:
    """``event`` at ``now`` is one the alert has already taken (see the module's docstring)."""
    if alert.state is State.RESOLVED and alert.resolved_at is not None and now <= alert.resolved_at:
        return True
    if now != alert.last_seen:
        return now < alert.last_seen
    news = event.severity > alert.severity or (
        event.restate and (event.severity, event.title) != (alert.severity, alert.title)
    )
    return not news


def transition(
    alert: Alert | None, event: Event, now: datetime, policy: Policy | None = None
) -> tuple[Alert | None, list[Effect]]:
    policy = policy or Policy()
    state = alert.state if alert else None
    match event:
        case Raise():
            if alert is None:
                return _new(event, now)
            if _replayed(alert, event, now):
                return alert, []  # a replay (re-evaluation of a range already seen): nothing new
            if alert.state is State.RESOLVED:
                assert alert.resolved_at is not None
                if (now - alert.resolved_at).total_seconds() > policy.reopen_window_s:
                    return _new(event, now)
                reopened = replace(
                    alert,
                    state=State.OPEN,
                    count=alert.count + 1,
                    last_seen=now,
                    condition_active=True,
                    severity=event.severity,
                    explanation=event.explanation,
                    title=event.title,
                    peak=_peak(alert.peak, event.value),
                    resolved_at=None,
                    resolved_by=None,
                    acknowledged_at=None,
                    acknowledged_by=None,
                    escalated_at=None,
                    escalation_level=0,
                    open_since=now,  # unanswered from now: its escalation counts from here
                    reopen_count=alert.reopen_count + 1,
                )
                return reopened, [
                    Audit(
                        "reopened",
                        SYSTEM,
                        State.RESOLVED,
                        State.OPEN,
                        title_text(event.title, event.explanation),
                    ),
                    Notify("reopened"),
                ]
            updated = replace(
                alert,
                count=alert.count + 1,
                last_seen=now,
                condition_active=True,
                explanation=event.explanation,
                peak=_peak(alert.peak, event.value),
                severity=max(alert.severity, event.severity),
                title=event.title if event.severity >= alert.severity else alert.title,
            )
            if (
                event.restate
                and event.severity <= alert.severity
                and (event.severity, event.title)
                != (
                    alert.severity,
                    alert.title,
                )
            ):
                # the level went down (or sideways, within one severity): the alert says what holds now
                return replace(updated, severity=event.severity, title=event.title), [
                    Audit(
                        "level_changed",
                        SYSTEM,
                        alert.state,
                        alert.state,
                        Text(
                            "audit.from_to",
                            {
                                "before": title_text(alert.title, alert.explanation),
                                "after": title_text(event.title, event.explanation),
                            },
                        ),
                    ),
                    Notify("level_changed"),
                ]
            if event.severity > alert.severity:
                # a worse condition needs fresh attention
                updated = replace(
                    updated, state=State.OPEN, acknowledged_at=None, acknowledged_by=None, open_since=now
                )
                return updated, [
                    Audit(
                        "severity_raised",
                        SYSTEM,
                        alert.state,
                        State.OPEN,
                        Text(
                            "audit.from_to",
                            {
                                "before": Text(f"severity.{alert.severity.label}"),
                                "after": Text(f"severity.{event.severity.label}"),
                            },
                        ),
                    ),
                    Notify("severity_raised"),
                ]
            return updated, []
        case Clear():
            if alert is None or alert.state is State.RESOLVED or now < alert.last_seen:
                return alert, []
            if policy.auto_resolve:
                resolved = replace(
                    alert, state=State.RESOLVED, condition_active=False, resolved_at=now, resolved_by=SYSTEM
                )
                return resolved, [
                    Audit("auto_resolved", SYSTEM, alert.state, State.RESOLVED, event.reason),
                    Notify("auto_resolved"),
                ]
            return replace(alert, condition_active=False), [
                Audit("condition_cleared", SYSTEM, alert.state, alert.state, event.reason)
            ]
        case Acknowledge():
            if alert is None or alert.state is not State.OPEN:
                raise IllegalTransition(state, event)
            acked = replace(alert, state=State.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=event.actor)
            return acked, [
                Audit("acknowledged", event.actor, State.OPEN, State.ACKNOWLEDGED),
                Notify("acknowledged"),
            ]
        case Resolve():
            if alert is None or alert.state is State.RESOLVED:
                raise IllegalTransition(state, event)
            done = replace(alert, state=State.RESOLVED, resolved_at=now, resolved_by=event.actor)
            return done, [
                Audit("resolved", event.actor, alert.state, State.RESOLVED, event.note),
                Notify("resolved"),
            ]
        case Assign():
            if alert is None or alert.state is State.RESOLVED:
                raise IllegalTransition(state, event)
            return replace(alert, assignee=event.assignee), [
                Audit(
                    "assigned", event.actor, alert.state, alert.state, event.assignee or Text("audit.nobody")
                )
            ]
        case Comment():
            if alert is None:
                raise IllegalTransition(state, event)
            return alert, [Audit("commented", event.actor, alert.state, alert.state, event.text)]
        case Step():
            if alert is None:
                raise IllegalTransition(state, event)
            return alert, [Audit(event.action, event.actor, alert.state, alert.state, event.detail)]
        case Confirm():
            then = (alert.explanation.details.get("if_confirmed") or {}) if alert is not None else {}
            if alert is None or alert.state is State.RESOLVED or not then:
                raise IllegalTransition(state, event)
            details = {k: v for k, v in alert.explanation.details.items() if k != "if_confirmed"}
            details |= {"confirmed": True, "confirmed_by": event.actor}
            if "text" in then:  # the confirmed title in every language (citywatch.i18n.Text)
                details["text"] = {**details.get("text", {}), "title": then["text"]}
            confirmed = replace(
                alert,
                severity=max(alert.severity, Severity(then["severity"])),
                title=then["title"],
                explanation=replace(alert.explanation, details=details),
            )
            after = Text.from_json(then.get("text"))
            said = {"before": title_text(alert.title, alert.explanation), "note": event.note}
            said["after"] = after if after is not None else str(then["title"])
            why = Text("audit.from_to.note" if event.note else "audit.from_to", said)
            return confirmed, [
                Audit("confirmed", event.actor, alert.state, alert.state, why),
                Notify("level_changed"),
            ]
        case Tick():
            due = (
                next_escalation(
                    alert.open_since or alert.opened_at, alert.escalated_at, alert.escalation_level, policy
                )
                if alert is not None and alert.state is State.OPEN and alert.severity is Severity.CRITICAL
                else None
            )
            if alert is not None and due is not None and now >= due[1]:
                level = due[0]
                why = (
                    Text("audit.escalated", {"level": level, "s": policy.escalate_after_s})
                    if level == 1
                    else Text(
                        "audit.escalated.again",
                        {"level": level, "s": policy.escalate_again_after_s[level - 2], "before": level - 1},
                    )
                )
                return replace(alert, escalated_at=now, escalation_level=level), [
                    Audit("escalated", SYSTEM, State.OPEN, State.OPEN, why),
                    Notify("escalated"),
                ]
            if (
                alert is not None
                and alert.state is State.ACKNOWLEDGED
                and alert.condition_active
                and policy.remind_after_s is not None
                and alert.acknowledged_at is not None
                and (now - alert.acknowledged_at).total_seconds() >= policy.remind_after_s
            ):
                by = alert.acknowledged_by
                # the reminder is the notification its escalation would be: it does not escalate at once after,
                # and the chain goes on from it (the next level after its interval, if nobody acknowledges)
                again = replace(
                    alert,
                    state=State.OPEN,
                    acknowledged_at=None,
                    acknowledged_by=None,
                    escalated_at=now,
                    escalation_level=max(1, alert.escalation_level),
                )
                return again, [
                    Audit(
                        "reminded",
                        SYSTEM,
                        State.ACKNOWLEDGED,
                        State.OPEN,
                        Text("audit.reminded", {"minutes": policy.remind_after_s / 60, "by": by}),
                    ),
                    Notify("reminded"),
                ]
            return alert, []
    raise TypeError(f"unknown event {event!r}")  # pragma: no cover
