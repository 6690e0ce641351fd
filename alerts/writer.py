"""Where the events the rules emit become alerts: each applied under its rule's policy.

The analytics (and the boarding bell) decide *that* something is wrong and say so as events — a
:class:`~alerts.model.Raise` or a :class:`~alerts.model.Clear` for an alert key (``rule:subject``);
the writer decides what that does to the alert tables (open, count, raise the severity, re-open within
the rule's window, clear), through :func:`alerts.store.apply`, one transaction per event, its
notifications in the outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import psycopg

from alerts import store
from alerts.config import AlertRules
from alerts.model import AlertEvent, Clear, Raise, Severity, involved


class AlertWriter:
    """Applies events to the alert tables over ``conn()`` (the caller's connection, which it may
    replace after an error), each under the policy ``rules()`` gives its rule."""

    def __init__(self, conn: Callable[[], psycopg.Connection[Any]], rules: Callable[[], AlertRules]) -> None:
        self.conn = conn
        self.rules = rules

    def apply(self, key: str, event: Raise | Clear, at: datetime) -> None:
        """One event for the alert ``key`` (``rule:subject``), at ``at``."""
        policy = self.rules().policy_for(key.split(":", 1)[0])
        store.apply(self.conn(), event, at, key=key, policy=policy)

    def apply_all(self, events: Iterable[AlertEvent]) -> None:
        for key, event, at in events:
            self.apply(key, event, at)

    def live(self, rule: str) -> dict[str, Severity]:
        """The subjects with a live (not resolved) alert of ``rule``, and its severity."""
        return {
            subject: Severity(severity)
            for subject, severity in self.conn()
            .execute("SELECT subject, severity FROM alerts WHERE rule = %s AND state <> 'resolved'", (rule,))
            .fetchall()
        }

    def reconcile(
        self,
        rule: str,
        wanted: Mapping[str, Raise],
        now: datetime,
        why_clear: str,
        why: Mapping[str, str] | None = None,
    ) -> None:
        """Raise ``rule`` for the subjects in ``wanted`` that have no live alert, or whose live alert is less
        severe than it has become (a capped sink that now fails); clear the live ones not wanted (saying
        ``why[subject]`` where given, else ``why_clear``)."""
        live = self.live(rule)
        for subject, event in wanted.items():
            if subject not in live or event.severity > live[subject]:
                self.apply(f"{rule}:{subject}", event, now)
        for subject in live.keys() - wanted.keys():
            self.apply(f"{rule}:{subject}", Clear((why or {}).get(subject, why_clear)), now)

    def involved_in_resolved(self, rule: str, since: datetime, until: datetime) -> set[str]:
        """The devices named by the alerts of ``rule`` resolved in (``since``, ``until``] (a zone outage's
        devices, say: read from the alerts, so a restart keeps them)."""
        rows = (
            self.conn()
            .execute(
                "SELECT explanation->'details' FROM alerts WHERE rule = %s AND state = 'resolved'"
                " AND resolved_at > %s AND resolved_at <= %s",
                (rule, since, until),
            )
            .fetchall()
        )
        return {dev for (details,) in rows for dev in involved(details)}
