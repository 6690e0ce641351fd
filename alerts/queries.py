"""Every read of the alert tables (``alerts``, ``alert_audit``, ``alert_outbox``, ``alert_deliveries``,
``outbox_cursors``, ``maintenance``) that the API, the metrics and the reports make; writes go through
:mod:`alerts.store` (the lifecycle's transactions) and :mod:`alerts.writer` (the rules' events).

Each function takes a :class:`Rows` source — anything with ``all`` and ``one`` returning rows as dicts
(the API's connection pool) — or, where noted, a psycopg connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import psycopg
from psycopg.rows import tuple_row

from alerts.load import Annunciation
from alerts.maintenance import IN_FORCE, UNTIL
from alerts.model import Severity
from alerts.store import OPENING

Params = Sequence[Any] | dict[str, Any] | None


#: over the audit trail (``alert_audit a``): the rows that are annunciations (alerts.load): an opening not
#: muted by maintenance (a muted one has a ``muted`` row at the same instant, and reached nobody), or the
#: release of one still live when its maintenance ended (``unmuted``: it reaches the operators then)
ANNUNCIATION = (
    f"((a.action IN ({', '.join(repr(w) for w in OPENING)}) AND NOT EXISTS (SELECT 1 FROM alert_audit m"
    " WHERE m.alert_id = a.alert_id AND m.action = 'muted' AND m.at = a.at)) OR a.action = 'unmuted')"
)

#: the severity an annunciation (``alert_audit a`` of ``alerts al``) was announced with (rows from before
#: the audit kept it: the alert's own)
ANNOUNCED_SEVERITY = "coalesce(a.severity, al.severity)"

#: alerts about zone ``%(zone)s`` (NULL: any): the zone itself, or a device or a parking lot in it
ABOUT_ZONE = (
    "(%(zone)s::text IS NULL OR subject IN (%(zone)s, 'zone:' || %(zone)s)"
    " OR subject IN (SELECT device_id FROM devices WHERE zone_id = %(zone)s)"
    " OR subject IN (SELECT lot_id FROM parking_lots WHERE zone_id = %(zone)s))"
)


class Rows(Protocol):
    def all(self, sql: str, params: Params = None) -> list[dict[str, Any]]: ...

    def one(self, sql: str, params: Params = None) -> dict[str, Any] | None: ...


# -- the alert list and one alert -------------------------------------------------------------------
def page(
    db: Rows,
    *,
    states: list[str],
    min_severity: Severity,
    kind: list[str] | None,
    rule: str | None,
    subject: str | None,
    assignee: str | None,
    zone: str | None,
    limit: int,
    after: tuple[int | None, datetime | None, int | None] = (None, None, None),
) -> list[dict[str, Any]]:
    """Alerts most severe and newest first, from after the keyset ``after`` (severity, opened, id)."""
    return db.all(
        "SELECT * FROM alerts WHERE state = ANY(%(states)s) AND severity >= %(sev)s"
        " AND (%(kind)s::text[] IS NULL OR kind = ANY(%(kind)s))"
        " AND (%(rule)s::text IS NULL OR rule = %(rule)s OR rule LIKE %(rule)s || '%%')"
        " AND (%(subject)s::text IS NULL OR subject = %(subject)s)"
        " AND (%(assignee)s::text IS NULL OR assignee = %(assignee)s)"
        f" AND {ABOUT_ZONE}"
        " AND (%(cs)s::int IS NULL OR (severity, opened_at, id) < (%(cs)s, %(ct)s, %(cid)s))"
        " ORDER BY severity DESC, opened_at DESC, id DESC LIMIT %(n)s",
        {
            "states": states, "sev": int(min_severity), "kind": kind, "rule": rule, "subject": subject,
            "assignee": assignee, "zone": zone, "n": limit, "cs": after[0], "ct": after[1], "cid": after[2],
        },
    )  # fmt: skip


def one(db: Rows, alert_id: int) -> dict[str, Any] | None:
    return db.one("SELECT * FROM alerts WHERE id = %s", (alert_id,))


def audit(db: Rows, alert_id: int) -> list[dict[str, Any]]:
    return db.all(
        "SELECT at, action, actor, from_state, to_state, detail, detail_text FROM alert_audit WHERE alert_id = %s"
        " ORDER BY id",
        (alert_id,),
    )


def earlier(db: Rows, alert: dict[str, Any]) -> list[dict[str, Any]]:
    """The same rule on the same subject before ``alert``: does it keep coming back, and what was done
    last time (the note of its resolution)?"""
    return db.all(
        "SELECT a.id, a.opened_at, a.resolved_at, a.resolved_by, a.count,"
        " (SELECT detail FROM alert_audit u WHERE u.alert_id = a.id AND u.action = 'resolved'"
        "  ORDER BY u.id DESC LIMIT 1) AS note"
        " FROM alerts a WHERE a.key = %s AND a.id <> %s AND a.opened_at < %s"
        " ORDER BY a.opened_at DESC LIMIT 10",
        (alert["key"], alert["id"], alert["opened_at"]),
    )


def state_of(conn: psycopg.Connection[Any], alert_id: int) -> str | None:
    """An alert's state (None: no such alert), on the caller's connection."""
    row = conn.execute("SELECT state FROM alerts WHERE id = %s", (alert_id,)).fetchone()
    if row is None:
        return None
    return str(row["state"] if isinstance(row, dict) else row[0])


def live_about(db: Rows, subject: str) -> int:
    """How many alerts about ``subject`` are live (not resolved)."""
    row = db.one("SELECT count(*) AS n FROM alerts WHERE subject = %s AND state <> 'resolved'", (subject,))
    return int(row["n"]) if row else 0


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern for what starts with ``prefix`` (its own ``\\``, ``%`` and ``_`` taken literally)."""
    for c in ("\\", "%", "_"):
        prefix = prefix.replace(c, "\\" + c)
    return prefix + "%"


def live_of_rules(db: Rows, prefix: str) -> dict[str, str]:
    """subject -> the rule of its live alert among the rules starting with ``prefix`` (one of them)."""
    rows = db.all(
        "SELECT DISTINCT ON (subject) subject, rule FROM alerts WHERE rule LIKE %s AND state <> 'resolved'"
        " ORDER BY subject, severity DESC, rule",
        (_like_prefix(prefix),),
    )
    return {r["subject"]: r["rule"] for r in rows}


def operator_confirmed(conn: psycopg.Connection[Any], prefix: str) -> set[str]:
    """The keys of live alerts (of the rules starting with ``prefix``) an operator has confirmed."""
    rows = conn.execute(
        "SELECT key FROM alerts WHERE rule LIKE %s AND state <> 'resolved'"
        " AND explanation->'details' ? 'confirmed_by'",
        (_like_prefix(prefix),),
    ).fetchall()
    return {r[0] if isinstance(r, tuple) else r["key"] for r in rows}


def advisories(db: Rows, zone: str | None, active: bool, t0: datetime, t1: datetime) -> list[dict[str, Any]]:
    """Fine-dust and ozone advisory alerts (of a zone or station): the live ones, or those of a range."""
    return db.all(
        "SELECT id, rule, subject, severity, state, title, explanation, opened_at, last_seen, resolved_at, peak"
        " FROM alerts WHERE rule LIKE 'aq.advisory.%%' AND (%(zone)s::text IS NULL OR subject = %(zone)s)"
        " AND (CASE WHEN %(active)s THEN state <> 'resolved'"
        "      ELSE opened_at < %(t1)s AND coalesce(resolved_at, 'infinity') >= %(t0)s END)"
        " ORDER BY opened_at DESC",
        {"zone": zone, "active": active, "t0": t0, "t1": t1},
    )


# -- figures over a range ---------------------------------------------------------------------------
def stats(db: Rows, t0: datetime, t1: datetime) -> tuple[dict[str, int], dict[str, Any]]:
    """Open alerts by severity label, and (acknowledged now; opened, resolved, MTTA and MTTR of the
    alerts opened in [t0, t1))."""
    by = {sev.label: 0 for sev in Severity}
    for o in db.all("SELECT severity, count(*) AS n FROM alerts WHERE state = 'open' GROUP BY severity"):
        by[Severity(o["severity"]).label] = o["n"]
    r = db.one(
        "SELECT (SELECT count(*) FROM alerts WHERE state = 'acknowledged') AS acknowledged,"
        " count(*) AS opened_in_range, count(resolved_at) AS resolved_in_range,"
        " avg(extract(epoch FROM acknowledged_at - opened_at)) AS mtta_s,"
        " avg(extract(epoch FROM resolved_at - opened_at)) AS mttr_s"
        " FROM alerts WHERE opened_at >= %s AND opened_at < %s",
        (t0, t1),
    )
    assert r is not None
    return by, r


def shift(db: Rows, t0: datetime, t1: datetime) -> dict[str, Any]:
    """What the shift report is made of, for [t0, t1): the head figures, by rule, what is still open,
    who did what, the episodes (outages, advisories, incidents, zone-wide mixes), maintenance windows
    and notifications per sink."""
    rng = {"t0": t0, "t1": t1}
    per_severity = ", ".join(f"count(*) FILTER (WHERE severity = {s.value}) AS {s.label}" for s in Severity)
    head = db.one(
        "SELECT count(*) AS opened, count(*) FILTER (WHERE escalated_at IS NOT NULL) AS escalated,"
        " count(*) FILTER (WHERE escalation_level >= 2) AS escalated_further,"
        " avg(extract(epoch FROM acknowledged_at - opened_at)) AS mtta_s,"
        f" avg(extract(epoch FROM resolved_at - opened_at)) AS mttr_s, {per_severity}"
        " FROM alerts WHERE opened_at >= %(t0)s AND opened_at < %(t1)s",
        rng,
    )
    assert head is not None
    return {
        "head": head,
        "by_rule": db.all(
            "SELECT rule, count(*) AS opened, max(severity) AS worst, count(*) FILTER (WHERE state <> 'resolved')"
            " AS still_open FROM alerts WHERE opened_at >= %(t0)s AND opened_at < %(t1)s"
            " GROUP BY rule ORDER BY max(severity) DESC, count(*) DESC, rule LIMIT 30",
            rng,
        ),
        "still_open": db.all(
            "SELECT id, severity, state, rule, subject, title, opened_at, assignee, explanation FROM alerts"
            " WHERE state <> 'resolved' AND opened_at < %(t1)s ORDER BY severity DESC, opened_at LIMIT 100",
            rng,
        ),
        "people": db.all(
            "SELECT actor, count(*) FILTER (WHERE action = 'acknowledged') AS acknowledged,"
            " count(*) FILTER (WHERE action = 'resolved') AS resolved,"
            " count(*) FILTER (WHERE action = 'commented') AS commented FROM alert_audit"
            " WHERE at >= %(t0)s AND at < %(t1)s AND actor <> 'system'"
            " AND action IN ('acknowledged', 'resolved', 'commented') GROUP BY actor ORDER BY actor",
            rng,
        ),
        "episodes": db.all(
            "SELECT id, rule, subject, title, severity, opened_at AS since, resolved_at AS until, peak,"
            " explanation FROM alerts"
            " WHERE (rule = 'zone.outage' OR rule LIKE 'aq.advisory.%%' OR rule LIKE 'cctv.incident.%%'"
            " OR (rule = 'aq.multivariate' AND subject LIKE 'zone:%%'))"
            " AND opened_at < %(t1)s AND (resolved_at IS NULL OR resolved_at >= %(t0)s) ORDER BY opened_at",
            rng,
        ),
        "windows": db.all(
            f"SELECT m.id, m.subject, m.reason, m.starts_at, {UNTIL} AS until, m.created_by"
            f" FROM maintenance m WHERE m.starts_at < %(t1)s AND {UNTIL} > %(t0)s"
            " ORDER BY starts_at",
            rng,
        ),
        "sent": db.all(
            "SELECT sink, count(*) FILTER (WHERE last_error IS NULL) AS sent,"
            " count(*) FILTER (WHERE last_error LIKE 'held back%%') AS held_back,"
            " count(*) FILTER (WHERE last_error LIKE 'not routed%%') AS not_routed FROM alert_deliveries"
            " WHERE delivered_at >= %(t0)s AND delivered_at < %(t1)s GROUP BY sink ORDER BY sink",
            rng,
        ),
    }


def live_counts(
    conn: psycopg.Connection[Any], at: datetime
) -> tuple[list[tuple[int, str, int]], int, int, dict[str, int]]:
    """For the metrics, on a plain connection: live alerts (severity, state, count), how many are muted,
    maintenance windows in force at ``at``, and per sink the notifications its cap holds back."""
    live = [(int(s), str(st), int(n)) for s, st, n in conn.execute(
        "SELECT severity, state, count(*) FROM alerts WHERE state <> 'resolved' GROUP BY 1, 2"
    ).fetchall()]  # fmt: skip
    row = conn.execute(
        "SELECT (SELECT count(*) FROM alerts WHERE muted_by IS NOT NULL AND state <> 'resolved'),"
        f" (SELECT count(*) FROM maintenance m WHERE {IN_FORCE})",
        {"at": at},
    ).fetchone()
    assert row is not None
    held = dict(conn.execute("SELECT sink, held FROM outbox_cursors").fetchall())
    return live, int(row[0]), int(row[1]), held


# -- the live feed ----------------------------------------------------------------------------------
def outbox_head(db: Rows) -> int:
    """The newest notification's id (0: none yet)."""
    row = db.one("SELECT coalesce(max(id), 0) AS id FROM alert_outbox")
    return int(row["id"]) if row else 0


def outbox_after(db: Rows, cursor: int, limit: int = 500) -> list[dict[str, Any]]:
    """Notifications after ``cursor``, in order."""
    return db.all(
        "SELECT id, what, payload, created_at FROM alert_outbox WHERE id > %s ORDER BY id LIMIT %s",
        (cursor, limit),
    )


# -- maintenance windows ----------------------------------------------------------------------------
_WINDOWS = (
    f"SELECT m.*, ({IN_FORCE}) AS active,"
    " (SELECT count(*) FROM alerts a WHERE a.muted_by = m.id AND a.state <> 'resolved') AS muted_alerts"
    " FROM maintenance m"
)


def window(db: Rows, window_id: int, at: datetime) -> dict[str, Any] | None:
    """A maintenance window, whether it is in force at ``at``, and how many live alerts it mutes."""
    return db.one(f"{_WINDOWS} WHERE m.id = %(id)s", {"id": window_id, "at": at})


def windows(db: Rows, at: datetime, include_past: bool) -> list[dict[str, Any]]:
    """Maintenance windows not over at ``at`` (or all), newest first."""
    where = "" if include_past else f" WHERE {UNTIL} > %(at)s"
    return db.all(f"{_WINDOWS}{where} ORDER BY m.starts_at DESC, m.id DESC LIMIT 500", {"at": at})


# -- the alarm load ---------------------------------------------------------------------------------
def annunciations(
    conn: psycopg.Connection[Any],
    start: datetime,
    end: datetime,
    kind: list[str] | None = None,
    zone: str | None = None,
    min_severity: Severity = Severity.INFO,
) -> tuple[list[Annunciation], list[datetime]]:
    """What reached the operators of a desk (``kind``, ``zone``; None: all) in [start, end), and when each
    of its alerts still live at ``end`` opened: the input of :func:`alerts.load.alarm_load`. With
    ``min_severity``, only annunciations that severe when announced (and, for the stale count, alerts that
    severe now) count."""
    desk = f"(%(kind)s::text[] IS NULL OR kind = ANY(%(kind)s)) AND {ABOUT_ZONE}"
    p = {"t0": start, "t1": end, "kind": kind, "zone": zone, "sev": int(min_severity)}
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            f"SELECT a.at, a.alert_id, al.rule, al.subject, {ANNOUNCED_SEVERITY}, al.kind FROM alert_audit a"
            f" JOIN alerts al ON al.id = a.alert_id WHERE a.at >= %(t0)s AND a.at < %(t1)s AND {ANNUNCIATION}"
            f" AND {desk} AND {ANNOUNCED_SEVERITY} >= %(sev)s",
            p,
        ).fetchall()
        live = cur.execute(
            "SELECT coalesce(open_since, opened_at) FROM alerts WHERE opened_at < %(t1)s"
            f" AND (resolved_at IS NULL OR resolved_at >= %(t1)s) AND {desk} AND severity >= %(sev)s",
            p,
        ).fetchall()
    items = [Annunciation(at, i, rule, subject, Severity(sev), k) for at, i, rule, subject, sev, k in rows]
    return items, [r[0] for r in live]
