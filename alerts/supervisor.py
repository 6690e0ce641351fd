"""What happens to alerts as time passes, whoever raised them — the one place that escalates.

Every step (the analytics' city-wide work, once per poll interval):

- **sinks** that do not get notifications out (failing, hanging, or held back by their cap) are a
  ``platform.notifications`` alert (:mod:`alerts.delivery`);
- **escalation**: critical alerts unacknowledged past their rule's ``escalate_after_s`` are escalated,
  and up the rule's chain (``escalate_again_after_s``) while nobody acknowledges them;
- **reminders**: acknowledged alerts still active past their rule's ``remind_after_s`` go back to open;
- **maintenance**: alerts live when a window starts are muted; those still live when it ends are
  notified then (:mod:`alerts.maintenance`).

Nothing is escalated or reminded under maintenance. Only alerts that may be due are read (older than
the shortest time any policy sets for them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from alerts import delivery, outbox, store
from alerts.lifecycle import next_escalation
from alerts.maintenance import muting_window
from alerts.model import Tick
from alerts.writer import AlertWriter
from citywatch.i18n import Text

log = logging.getLogger(__name__)


class Supervisor:
    """Escalates, reminds, mutes and releases, and watches the sinks ``sinks()`` (the dispatcher's)."""

    def __init__(self, writer: AlertWriter, sinks: Callable[[], Iterable[str]]) -> None:
        self.writer = writer
        self.sinks = sinks

    def step(self, now: datetime) -> None:
        self.watch_sinks(now)
        self.escalate(now)
        self.remind(now)
        self.maintenance(now)

    def watch_sinks(self, now: datetime) -> None:
        """Sinks not getting notifications out (``platform.notifications``): one failing or hanging for
        ``delivery.late_s``, or held back by its cap for ``delivery.held_s``."""
        conn, cfg = self.writer.conn(), self.writer.rules().delivery
        held = {
            sink: (n, since)
            for sink, n, since in conn.execute(
                "SELECT sink, held, held_since FROM outbox_cursors WHERE held > 0"
            ).fetchall()
        }
        states = []
        for sink in self.sinks():
            waiting, oldest = outbox.pending(conn, sink)
            error, attempts = None, 0
            if waiting and oldest is not None and oldest >= cfg.late_s:
                row = conn.execute(
                    "SELECT last_error, attempts FROM alert_deliveries WHERE sink = %s AND delivered_at IS NULL"
                    " ORDER BY outbox_id LIMIT 1",
                    (sink,),
                ).fetchone()
                if row is not None:
                    error, attempts = row
            n, since = held.get(sink, (0, None))
            states.append(delivery.SinkState(sink, waiting, oldest, error, attempts, n, since))
        self.writer.reconcile(delivery.RULE, delivery.troubled(states, cfg, now), now, Text("clear.delivery"))

    def escalate(self, now: datetime) -> None:
        """Critical alerts unacknowledged past their rule's ``escalate_after_s`` (``null``: never) are
        escalated, and up the rule's chain (``escalate_again_after_s``) while nobody acknowledges them."""
        rules = self.writer.rules()
        policies = rules.all_policies()
        first = min((p.escalate_after_s for p in policies if p.escalate_after_s is not None), default=None)
        again = min((t for p in policies for t in p.escalate_again_after_s), default=None)
        if first is None and again is None:
            return
        due_if, bounds = [], []  # by level: not yet escalated (since it opened), or escalated (since then)
        if first is not None:
            due_if.append("(escalation_level = 0 AND coalesce(open_since, opened_at) <= %s)")
            bounds.append(now - timedelta(seconds=first))
        if again is not None:
            due_if.append("(escalation_level > 0 AND escalated_at <= %s)")
            bounds.append(now - timedelta(seconds=again))
        conn = self.writer.conn()
        rows = conn.execute(
            "SELECT id, subject, rule, coalesce(open_since, opened_at), escalated_at, escalation_level FROM alerts"
            f" WHERE state = 'open' AND severity = 3 AND muted_by IS NULL AND ({' OR '.join(due_if)})",
            bounds,
        ).fetchall()
        for alert_id, subject, rule, since, escalated_at, level in rows:
            policy = rules.policy_for(rule)
            due = next_escalation(since, escalated_at, level, policy)
            if due is None or now < due[1]:
                continue
            if muting_window(conn, subject, rule, now) is None:
                store.apply(conn, Tick(), now, alert_id=alert_id, policy=policy)

    def remind(self, now: datetime) -> None:
        """Acknowledged alerts still active past their rule's ``remind_after_s`` go back to open, notified
        (``reminded``): an acknowledged alert nobody resolves is not forgotten."""
        rules = self.writer.rules()
        soonest = min(
            (p.remind_after_s for p in rules.all_policies() if p.remind_after_s is not None), default=None
        )
        if soonest is None:
            return
        conn = self.writer.conn()
        rows = conn.execute(
            "SELECT id, subject, rule, acknowledged_at FROM alerts WHERE state = 'acknowledged'"
            " AND condition_active AND muted_by IS NULL AND acknowledged_at <= %s",
            (now - timedelta(seconds=soonest),),
        ).fetchall()
        for alert_id, subject, rule, at in rows:
            policy = rules.policy_for(rule)
            wait = policy.remind_after_s
            if wait is None or at is None or now - at < timedelta(seconds=wait):
                continue
            if muting_window(conn, subject, rule, now) is None:
                store.apply(conn, Tick(), now, alert_id=alert_id, policy=policy)

    def maintenance(self, now: datetime) -> None:
        """Windows that ended: their muted alerts still live are notified now; windows that started:
        the live alerts they cover are muted."""
        conn = self.writer.conn()
        if released := store.release(conn, now):
            log.info("maintenance ended: %d muted alert(s) notified now", released)
        if muted := store.mute_started(conn, now):
            log.info("maintenance started: %d live alert(s) muted", muted)
