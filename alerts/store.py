"""PostgreSQL adapter of the alert lifecycle.

:func:`apply` loads the live alert for a key under a row lock (or the most
recently resolved one, for re-opening), runs the pure transition, writes the
result, its audit rows and its notifications (outbox) in one transaction.
Two workers raising the same key concurrently meet at the unique index on live
keys: the loser retries and updates the winner's alert. Notifications are
added under one advisory lock and announced with ``NOTIFY citywatch_alerts``,
so the API's live stream sees outbox ids in commit order.

Maintenance (:mod:`alerts.maintenance`): a notification of an alert that a
window mutes is written with ``muted_by`` (the console's live stream shows it,
the sinks never get it) and the alert remembers the window; :func:`release`
notifies the alerts still live once their window has ended.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from alerts.lifecycle import SYSTEM, transition
from alerts.maintenance import CANDIDATES, Window, muting_window, window_from_row, windows_in_force
from alerts.model import Alert, Audit, Event, Explanation, Notify, Policy, Raise, Severity, State
from citywatch.i18n import Text, render

#: the notifications that tell of a new (or returning) alert; one held back is made up for by release()
OPENING = ("opened", "reopened")


#: advisory lock serialising outbox writers (see 0006_api.sql)
OUTBOX_LOCK = 0x6377_616C  # "cwal"

#: the alerts table's columns written from the model, in the model's order (``id`` is the table's)
_COLUMNS = tuple(f.name for f in dataclasses.fields(Alert) if f.name != "id")


_EXPLANATION_FIELDS = tuple(f.name for f in dataclasses.fields(Explanation))
#: an explanation as JSON (a tenth of the cost of dataclasses.asdict and json): numpy numbers as numbers,
#: anything else JSON has no type for (a datetime in the details) as its str()
_JSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _explanation_json(e: Explanation) -> dict[str, Any]:
    d = {k: getattr(e, k) for k in _EXPLANATION_FIELDS}
    for k in ("window_start", "window_end"):
        if d[k] is not None:
            d[k] = d[k].isoformat()
    return orjson.loads(orjson.dumps(d, default=str, option=_JSON_OPTIONS))  # type: ignore[no-any-return]


def _explanation(d: dict[str, Any]) -> Explanation:
    d = dict(d)
    for k in ("window_start", "window_end"):
        if d.get(k):
            d[k] = datetime.fromisoformat(d[k])
    return Explanation(**d)


def row_to_alert(r: dict[str, Any]) -> Alert:
    """The model of a row of the alerts table (its columns are the model's fields)."""
    fields = {c: r[c] for c in _COLUMNS}
    fields |= {
        "severity": Severity(r["severity"]),
        "state": State(r["state"]),
        "explanation": _explanation(r["explanation"]),
    }
    return Alert(id=r["id"], **fields)


def _values(a: Alert) -> list[Any]:
    out: list[Any] = []
    for c in _COLUMNS:
        v = getattr(a, c)
        if c == "severity":
            v = int(v)
        elif c == "state":
            v = v.value
        elif c == "explanation":
            v = Jsonb(_explanation_json(v))
        out.append(v)
    return out


def notification_payload(a: Alert, what: str) -> dict[str, Any]:
    return {
        "v": 1,
        "what": what,
        "alert_id": a.id,
        "key": a.key,
        "rule": a.rule,
        "subject": a.subject,
        "kind": a.kind,
        "severity": a.severity.label,
        "state": a.state.value,
        "title": a.title,
        "count": a.count,
        "escalation_level": a.escalation_level,
        "opened_at": a.opened_at.isoformat(),
        "last_seen": a.last_seen.isoformat(),
        "explanation": _explanation_json(a.explanation),
    }


def _load(cur: psycopg.Cursor[Any], key: str, alert_id: int | None) -> Alert | None:
    if alert_id is not None:
        cur.execute("SELECT * FROM alerts WHERE id = %s FOR UPDATE", (alert_id,))
    else:  # the live one, else the one resolved last (to re-open), in one round trip
        cur.execute(
            "SELECT * FROM alerts WHERE key = %(k)s AND (state <> 'resolved' OR id = (SELECT id FROM alerts"
            " WHERE key = %(k)s AND state = 'resolved' ORDER BY resolved_at DESC LIMIT 1))"
            " ORDER BY state = 'resolved' LIMIT 1 FOR UPDATE",
            {"k": key},
        )
    row = cur.fetchone()
    return row_to_alert(row) if row else None


def load_many(conn: psycopg.Connection[Any], keys: list[str]) -> dict[str, Alert | None]:
    """What :func:`_load` finds for each of ``keys`` (None: no alert yet), under the same row locks, in two
    round trips for all of them: the rows' ids, then the rows locked (re-read as they are once locked)."""
    ids = conn.execute(
        "SELECT k.key, (SELECT id FROM alerts a WHERE a.key = k.key ORDER BY a.state = 'resolved',"
        " a.resolved_at DESC LIMIT 1) FROM unnest(%s::text[]) AS k(key)",
        (keys,),
    ).fetchall()
    found: dict[str, Alert | None] = dict.fromkeys(keys)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT * FROM alerts WHERE id = ANY(%s) FOR UPDATE", ([i for _k, i in ids if i is not None],)
        )
        for row in cur.fetchall():
            found[row["key"]] = row_to_alert(row)
    return found


def apply(
    conn: psycopg.Connection[Any],
    event: Event,
    now: datetime,
    *,
    key: str | None = None,
    alert_id: int | None = None,
    policy: Policy | None = None,
    own_transaction: bool = True,
    held: dict[str, Alert | None] | None = None,
    windows_exist: bool = True,
    next_id: Callable[[], int] | None = None,
    outbox_locked: bool = False,
) -> Alert | None:
    """Apply one event to the alert it concerns (by key, or by id for operator actions); returns the result.
    ``own_transaction`` False: within the caller's (:meth:`alerts.writer.AlertWriter.batch`), whose
    failure — another worker opening the same key first included — the caller replays. ``held``: the
    alerts the caller's transaction has already read (:func:`load_many`: None, none yet) or written, by key,
    under their row locks (nobody else can change them before it ends): one of them is not read again, and
    the alert written is put there.
    ``windows_exist`` False: the caller knows there is no maintenance window at all (none is looked for).
    ``next_id``: a new alert's id, taken by the caller from the alerts' sequence (no wait for it here).
    ``outbox_locked``: the caller's transaction holds the outbox's lock already (:func:`lock_outbox`)."""
    key = event.key if isinstance(event, Raise) else key
    if key is None and alert_id is None:
        raise ValueError("an event needs the alert's key or id")
    for _attempt in range(5):
        try:
            with (
                conn.transaction() if own_transaction else nullcontext(),
                conn.cursor(row_factory=dict_row) as cur,
                conn.cursor(row_factory=dict_row) as windows,
            ):
                known = held is not None and key is not None and key in held
                asked = windows_exist and not known and not own_transaction and key is not None
                if asked:  # in the caller's pipeline: the windows asked with the load, in its round trip
                    windows.execute(CANDIDATES, {"subject": (key or "").split(":", 1)[1], "at": now})
                before = held[key or ""] if held is not None and known else _load(cur, key or "", alert_id)
                after, effects = transition(before, event, now, policy)
                if after is None or (after == before and not effects):
                    return after
                cols = ", ".join(_COLUMNS)
                runbook = (  # None: keep the one it has
                    Jsonb(policy.runbook.as_json()) if policy is not None and policy.runbook else None
                )
                notify = any(isinstance(e, Notify) for e in effects)
                opening = any(isinstance(e, Notify) and e.what in OPENING for e in effects)
                muted: Window | None = None
                if notify:
                    muted = muting_window(
                        conn,
                        after.subject,
                        after.rule,
                        now,
                        windows.fetchall() if asked else None if windows_exist else [],
                    )
                # an opening alert remembers the window that held back its notification (release() makes up
                # for it), in the same write
                extra, also = (", muted_by", [muted.id if muted else None]) if opening else ("", [])
                if after.id is None and next_id is not None:  # a new alert, its id known: nothing to wait for
                    after = dataclasses.replace(after, id=next_id())
                    cur.execute(
                        f"INSERT INTO alerts (id, {cols}, runbook{extra})"
                        f" VALUES ({', '.join(['%s'] * (len(_COLUMNS) + 2 + len(also)))})",
                        [after.id, *_values(after), runbook, *also],
                    )
                elif after.id is None:  # a new alert
                    cur.execute(
                        f"INSERT INTO alerts ({cols}, runbook{extra})"
                        f" VALUES ({', '.join(['%s'] * (len(_COLUMNS) + 1 + len(also)))}) RETURNING id",
                        [*_values(after), runbook, *also],
                    )
                    row = cur.fetchone()
                    assert row is not None
                    after = dataclasses.replace(after, id=row["id"])
                else:
                    sets = ", ".join(f"{c} = %s" for c in _COLUMNS)
                    cur.execute(
                        f"UPDATE alerts SET {sets}, runbook = coalesce(%s, runbook){extra and ', muted_by = %s'},"
                        " updated_at = now() WHERE id = %s",
                        [*_values(after), runbook, *also, after.id],
                    )
                if opening and muted is not None:
                    effects = [*effects, _muted_audit(after.state, muted, SYSTEM)]
                if notify and not outbox_locked:
                    lock_outbox(cur)
                for e in effects:
                    if isinstance(e, Audit):
                        _write_audit(cur, after.id, now, e, after.severity)
                    elif isinstance(e, Notify):
                        _write_notification(cur, after, e.what, muted)
                if held is not None and key is not None:
                    held[key] = after
                return after
        except psycopg.errors.UniqueViolation:
            continue  # another worker opened the same key first: apply to theirs
    raise RuntimeError(f"could not apply {type(event).__name__} to {key or alert_id} after 5 attempts")


def lock_outbox(cur: psycopg.Cursor[Any]) -> None:
    """Outbox ids must become visible in order (the live stream resumes from one): one writer at a time from
    here to the commit, which follows at once; and the live stream is woken."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (OUTBOX_LOCK,))
    cur.execute("NOTIFY citywatch_alerts")


def _write_audit(
    cur: psycopg.Cursor[Any], alert_id: int | None, at: datetime, e: Audit, severity: Severity
) -> None:
    """One audit row; ``severity``: the alert's at that step. A detail the system wrote (a Text) is kept in
    English and as its text, for the API to give in the reader's language."""
    text = e.detail if isinstance(e.detail, Text) else None
    cur.execute(
        "INSERT INTO alert_audit (alert_id, at, action, actor, from_state, to_state, detail, detail_text, severity)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            alert_id,
            at,
            e.action,
            e.actor,
            e.from_state.value if e.from_state else None,
            e.to_state.value,
            render(text) if text is not None else e.detail,
            Jsonb(text.as_json()) if text is not None else None,
            int(severity),
        ),
    )


def _write_notification(
    cur: psycopg.Cursor[Any], a: Alert, what: str, muted: Window | None = None, **extra: Any
) -> None:
    """One outbox row (after :func:`lock_outbox`); a muted one is kept for the record and the live console.
    It carries the alert's procedure, if its rule has one (kept on the alert row): per language its steps."""
    payload = {**notification_payload(a, what), **extra}
    if muted is not None:
        payload["muted"] = {
            "maintenance_id": muted.id,
            "until": muted.until.isoformat(),
            "reason": muted.reason,
        }
    cur.execute(
        "INSERT INTO alert_outbox (alert_id, what, payload, muted_by)"
        " SELECT id, %s, %s::jsonb || CASE WHEN runbook IS NULL THEN '{}' ELSE jsonb_build_object('runbook', runbook) END,"
        " %s FROM alerts WHERE id = %s",
        (what, Jsonb(payload), muted.id if muted else None, a.id),
    )


def _muted_audit(state: State, w: Window, actor: str) -> Audit:
    return Audit(
        "muted",
        actor,
        state,
        state,
        Text("audit.muted", {"id": w.id, "until": w.until.isoformat(timespec="minutes"), "reason": w.reason}),
    )


def release(conn: psycopg.Connection[Any], now: datetime) -> int:
    """Notify the live alerts whose maintenance window has ended (and that no other window mutes now):
    their notification goes to the sinks now, as ``opened`` with ``after_maintenance``. Returns how many."""
    with conn.cursor(row_factory=tuple_row) as c:
        rows = c.execute(
            "SELECT id, subject, rule, muted_by FROM alerts WHERE muted_by IS NOT NULL AND state <> 'resolved'"
        ).fetchall()
    released = 0
    for alert_id, subject, rule, was in rows:
        still = muting_window(conn, subject, rule, now)
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            if still is not None:
                if still.id != was:  # another window took over: it is the one that will release it
                    cur.execute("UPDATE alerts SET muted_by = %s WHERE id = %s", (still.id, alert_id))
                continue
            cur.execute(
                "SELECT * FROM alerts WHERE id = %s AND muted_by IS NOT NULL AND state <> 'resolved' FOR UPDATE",
                (alert_id,),
            )
            row = cur.fetchone()
            if row is None:  # resolved or released meanwhile
                continue
            a = row_to_alert(row)
            cur.execute("UPDATE alerts SET muted_by = NULL, updated_at = now() WHERE id = %s", (alert_id,))
            _write_audit(
                cur,
                alert_id,
                now,
                Audit("unmuted", SYSTEM, a.state, a.state, Text("audit.unmuted", {"id": was})),
                a.severity,
            )
            lock_outbox(cur)
            _write_notification(cur, a, "opened", after_maintenance=was)
            released += 1
    return released


def mute_live(conn: psycopg.Connection[Any], window: Window, now: datetime) -> int:
    """A window that starts now also mutes the alerts already live on its subject (their notifications from
    now on, and the release when it ends: 'still live after maintenance'). Returns how many."""
    if not window.active(now):
        return 0
    with conn.cursor(row_factory=tuple_row) as c:
        rows = c.execute(
            "SELECT a.id, a.subject, a.rule, d.zone_id, a.state, a.severity FROM alerts a"
            " LEFT JOIN devices d ON d.device_id = a.subject"
            " WHERE a.state <> 'resolved' AND a.muted_by IS NULL"
            " AND (a.subject = %(s)s OR d.zone_id = %(z)s)",
            {
                "s": window.subject,
                "z": window.subject.removeprefix("zone:") if window.subject.startswith("zone:") else None,
            },
        ).fetchall()
    n = 0
    for alert_id, subject, rule, zone, state, severity in rows:
        if not window.covers(subject, zone, rule, now):
            continue
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "UPDATE alerts SET muted_by = %s, updated_at = now()"
                " WHERE id = %s AND muted_by IS NULL AND state <> 'resolved'",
                (window.id, alert_id),
            )
            if cur.rowcount:
                audit = _muted_audit(State(state), window, window.created_by)
                _write_audit(cur, alert_id, now, audit, Severity(severity))
                n += 1
    return n


def mute_started(conn: psycopg.Connection[Any], now: datetime) -> int:
    """Every window in force now mutes the alerts already live on its subject, a window planned ahead that has
    just started included (idempotent: run on every health step). Returns how many were newly muted."""
    return sum(mute_live(conn, w, now) for w in windows_in_force(conn, now))


def open_window(
    conn: psycopg.Connection[Any],
    subject: str,
    rule_prefix: str | None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    created_by: str,
    now: datetime,
) -> int:
    """A new maintenance window; the alerts already live on its subject are muted from ``now`` on too."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO maintenance (subject, rule_prefix, starts_at, ends_at, reason, created_by)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
            (subject, rule_prefix, starts_at, ends_at, reason, created_by),
        ).fetchone()
    assert row is not None
    mute_live(conn, window_from_row(row), now)
    return int(row["id"])


def end_window(conn: psycopg.Connection[Any], window_id: int, at: datetime, by: str) -> None:
    """End a window at ``at`` (not before it starts); its alerts still live are released by :func:`release`."""
    conn.execute(
        "UPDATE maintenance SET ended_at = greatest(%s, starts_at), ended_by = %s WHERE id = %s",
        (at, by, window_id),
    )


def move_window(
    conn: psycopg.Connection[Any],
    window_id: int,
    ends_at: datetime,
    reason: str | None,
    at: datetime,
    by: str,
) -> None:
    """Move a window's end (and change its reason, when given); it keeps its id, so what it mutes stays muted."""
    conn.execute(
        "UPDATE maintenance SET ends_at = %s, reason = coalesce(%s, reason), changed_at = %s, changed_by = %s"
        " WHERE id = %s",
        (ends_at, reason, at, by, window_id),
    )
