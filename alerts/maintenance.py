"""Maintenance windows: which alerts a window mutes (pure), and reading the windows (SQL).

While a device is being serviced (or every device of a zone: ``subject = "zone:{zone_id}"``), its alerts
are still raised, de-duplicated, recorded and audited, and the console still shows them, marked muted;
but their notifications are held back from the sinks (the MQTT topic, webhooks: the SMS and e-mail
gateways), and critical ones are not escalated. A window may be limited to the rules under a prefix
(``aq`` for the air-quality rules, ``device.offline`` for one rule). When it ends, on time or early, the
alerts it muted that are still live are notified then (:func:`alerts.store.release`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

MAX_DAYS = 30  # a longer "maintenance" is a decommissioning: take the device out of service instead


@dataclass(frozen=True, slots=True)
class Window:
    id: int
    subject: str  # a device id, or "zone:{zone_id}"
    rule_prefix: str | None  # None: every rule
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    ended_at: datetime | None = None  # ended early
    ended_by: str | None = None

    @property
    def until(self) -> datetime:
        """When it stops muting: its planned end, or when an operator ended it."""
        return min(self.ends_at, self.ended_at) if self.ended_at else self.ends_at

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.until

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Is it in force at some time in [start, end)?"""
        return self.starts_at < end and self.until > start

    def concerns(self, family: str) -> bool:
        """Does it mute some rule of ``family`` (``aq``: every rule, the ``aq`` ones, or one of them)?"""
        p = self.rule_prefix
        return p is None or family == p or family.startswith(p + ".") or p.startswith(family + ".")

    def covers(self, subject: str, zone: str | None, rule: str, at: datetime) -> bool:
        """Does this window mute the alert ``rule`` on ``subject`` (of ``zone``) at ``at``?"""
        if not self.active(at):
            return False
        if self.subject != subject and not (zone and self.subject == f"zone:{zone}"):
            return False
        p = self.rule_prefix
        return p is None or rule == p or rule.startswith(p + ".")


def muting(
    windows: Iterable[Window], subject: str, zone: str | None, rule: str, at: datetime
) -> Window | None:
    """The window that mutes this alert at ``at`` (the one that lasts longest), or None."""
    covering = [w for w in windows if w.covers(subject, zone, rule, at)]
    return max(covering, key=lambda w: (w.until, w.id)) if covering else None


# -- SQL at the edge -----------------------------------------------------------------------
#: when a window ends or ended (alias m): its planned end, or earlier if an operator ended it
UNTIL = "least(m.ends_at, coalesce(m.ended_at, m.ends_at))"
#: a window in force at %(at)s (alias m)
IN_FORCE = "m.starts_at <= %(at)s AND m.ends_at > %(at)s AND (m.ended_at IS NULL OR m.ended_at > %(at)s)"
_ZONE = "(SELECT zone_id FROM devices WHERE device_id = %(subject)s)"
#: the windows in force at %(at)s on %(subject)s or its zone
CANDIDATES = (
    f"SELECT m.*, {_ZONE} AS subject_zone FROM maintenance m"
    f" WHERE {IN_FORCE} AND (m.subject = %(subject)s OR m.subject = 'zone:' || {_ZONE})"
)


def window_from_row(r: dict[str, Any]) -> Window:
    return Window(
        r["id"],
        r["subject"],
        r["rule_prefix"],
        r["starts_at"],
        r["ends_at"],
        r["reason"],
        r["created_by"],
        r["ended_at"],
        r["ended_by"],
    )


def muting_window(
    conn: psycopg.Connection[Any],
    subject: str,
    rule: str,
    at: datetime,
    rows: list[dict[str, Any]] | None = None,
) -> Window | None:
    """The window muting alerts of ``rule`` on ``subject`` at ``at`` (device or zone windows); ``rows``: the
    :data:`CANDIDATES` already read for them."""
    if rows is None:
        with conn.cursor(row_factory=dict_row) as c:
            rows = c.execute(CANDIDATES, {"subject": subject, "at": at}).fetchall()
    if not rows:
        return None
    return muting([window_from_row(r) for r in rows], subject, rows[0]["subject_zone"], rule, at)


def windows_in_force(conn: psycopg.Connection[Any], at: datetime) -> list[Window]:
    with conn.cursor(row_factory=dict_row) as c:
        return [
            window_from_row(r) for r in c.execute(f"SELECT * FROM maintenance m WHERE {IN_FORCE}", {"at": at})
        ]
