"""Alert values and the events that move them (pure data)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from alerts.runbooks import STEP_ACTIONS, Procedure, step_detail
from citywatch.i18n import Text, render


class State(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Severity(IntEnum):
    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why the alert exists: which rule or model saw what, against what."""

    rule: str
    observed: float | None = None
    threshold: float | None = None
    baseline: float | None = None
    score: float | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)
    message: str = ""


# An alert that stands for several devices names them in its details under one of these keys: a CCTV
# incident its cameras, a zone outage its devices, a zone's unusual pollutant mix its stations (a mapping).
GROUPED = ("cameras", "devices", "stations")


def involved(details: Mapping[str, Any] | None) -> list[str]:
    """The devices a grouped alert stands for (empty for an alert about one subject): a list in its own order
    (an incident's first camera first), a mapping's keys sorted."""
    for key in GROUPED:
        v = (details or {}).get(key)
        if isinstance(v, Mapping):
            return sorted(str(k) for k in v)
        if isinstance(v, list):
            return [str(x) for x in v]
    return []


@dataclass(frozen=True, slots=True)
class Policy:
    """Per-rule behaviour of the lifecycle."""

    auto_resolve: bool = True  # resolve by itself when the condition clears
    reopen_window_s: float = 900.0  # a recurrence within this re-opens the old alert
    escalate_after_s: float | None = 600.0  # critical and unacknowledged this long -> escalate (level 1)
    # still unacknowledged this long after each escalation -> the next level (2, 3, ...): the chain of who is
    # told next (duty supervisor, centre manager, the city's disaster office); empty: level 1 only
    escalate_again_after_s: tuple[float, ...] = ()
    # what the operator does, a checklist in every language (alerts.runbooks): on the alert and its notifications
    runbook: Procedure | None = None
    remind_after_s: float | None = None  # acknowledged, yet still active this long: open again, notified


@dataclass(frozen=True, slots=True)
class Alert:
    key: str  # de-duplication key: rule + subject
    rule: str
    subject: str  # device, station, zone, camera, ...
    kind: str  # device kind or domain: aq, parking, cctv, bus, stop, platform
    severity: Severity
    state: State
    title: str
    explanation: Explanation
    opened_at: datetime
    last_seen: datetime
    count: int = 1
    peak: float | None = None
    condition_active: bool = True
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    assignee: str | None = None
    escalated_at: datetime | None = None  # when it was last escalated (or reminded)
    reopen_count: int = 0
    escalation_level: int = 0  # 0: not escalated; n: escalated n times (the reminder stands for level 1)
    open_since: datetime | None = None  # re-opened or raised to a worse severity then (None: since opened_at)
    id: int | None = None  # assigned by the store


# -- events ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Raise:
    """The condition is observed (again)."""

    rule: str
    subject: str
    kind: str
    severity: Severity
    title: str
    explanation: Explanation
    value: float | None = None
    # the condition's current level (an advisory's 주의보/경보/중대경보): severity and title follow it down as
    # well as up; otherwise a persisting condition keeps the worst severity it has had
    restate: bool = False

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.subject}"


#: why a condition cleared when its rule says no more
CLEARED = Text("clear.condition")


def title_text(title: str, explanation: Explanation) -> str | Text:
    """An alert's (or a Raise's) title as the text it was written from, while it still reads so (a title kept
    from a worse condition since is its recorded string)."""
    text = Text.from_json(((explanation.details or {}).get("text") or {}).get("title"))
    return text if text is not None and render(text) == title else title


@dataclass(frozen=True, slots=True)
class Clear:
    """The condition is no longer observed: ``reason``, a text of the catalogue (or a string as said)."""

    reason: str | Text = CLEARED


@dataclass(frozen=True, slots=True)
class Acknowledge:
    actor: str


@dataclass(frozen=True, slots=True)
class Resolve:
    actor: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Assign:
    actor: str
    assignee: str | None


@dataclass(frozen=True, slots=True)
class Comment:
    actor: str
    text: str


@dataclass(frozen=True, slots=True)
class Confirm:
    """An operator confirms an unconfirmed alert (an advisory issued on doubtful readings: a 미확인 경보):
    it takes the severity and title its rule said confirmation would give it (``details.if_confirmed``)."""

    actor: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Step:
    """An operator ticks a step of the alert's procedure as done (or un-ticks it): ``step`` counts from 1,
    ``text`` is the step as the operator read it (kept in the audit trail)."""

    actor: str
    step: int
    text: str
    done: bool = True

    @property
    def action(self) -> str:
        return STEP_ACTIONS[0] if self.done else STEP_ACTIONS[1]

    @property
    def detail(self) -> str:
        return step_detail(self.step, self.text)


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passes: escalation checks."""


Event = Raise | Clear | Acknowledge | Resolve | Assign | Comment | Confirm | Step | Tick
AlertEvent = tuple[str, Raise | Clear, datetime]  # what a rule emits: (alert key, event, when)


def alert(
    rule: str,
    subject: str,
    kind: str,
    severity: Severity,
    title: str | Text,
    value: float | None = None,
    *,
    restate: bool = False,
    **why: Any,
) -> Raise:
    """A Raise whose explanation names its rule; ``why`` are the Explanation's other fields. A title or a
    message given as a :class:`~citywatch.i18n.Text` is recorded in English and kept in the details
    (``text.title``, ``text.message``), so that the API can give it in the reader's language."""
    texts = {
        k: v.as_json() for k, v in (("title", title), ("message", why.get("message"))) if isinstance(v, Text)
    }
    if texts:
        why["details"] = {**(why.get("details") or {}), "text": texts}
    if isinstance(title, Text):
        title = render(title)
    if isinstance(why.get("message"), Text):
        why["message"] = render(why["message"])
    return Raise(rule, subject, kind, severity, title, Explanation(rule=rule, **why), value, restate)


# -- effects (executed by adapters after the commit) ------------------------
#: every action an alert's audit trail records (the console names each in the reader's language)
AUDIT_ACTIONS = (
    "opened", "reopened", "acknowledged", "assigned", "commented", "confirmed", "resolved", "auto_resolved",
    "condition_cleared", "escalated", "reminded", "severity_raised", "level_changed", "muted", "unmuted",
    *STEP_ACTIONS,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Audit:
    action: str  # one of AUDIT_ACTIONS
    actor: str
    from_state: State | None
    to_state: State
    detail: str | Text = ""  # a Text: the system's words, read in any language; a string: a person's


@dataclass(frozen=True, slots=True)
class Notify:
    # opened | reopened | severity_raised | level_changed | escalated | reminded | acknowledged | resolved
    # | auto_resolved
    what: str


Effect = Audit | Notify


class IllegalTransition(Exception):
    """An operator action that the alert's state does not allow."""

    def __init__(self, state: State | None, event: Event) -> None:
        action = type(event).__name__.lower()
        #: what was refused, readable in any language
        self.text = Text(f"error.transition.{action}", {"state": Text(f"error.state.{state or 'absent'}")})
        super().__init__(render(self.text))
        self.state = state
        self.event = event
