"""Deliver committed notifications (the outbox) to every sink.

Each sink (the MQTT topic, each webhook) has its own delivery record per
notification: delivered once it accepted it; after a failure it is retried
with exponential backoff (1 s, 2 s, 4 s, ... up to ``max_backoff_s``), the
error and the attempt count visible in ``alert_deliveries``. Order is kept per
sink: a notification waits for the ones before it. Delivery runs in its own
thread (:class:`Dispatcher`), so a sink that hangs or fails never blocks the
engine that writes the rows.

Delivery is at least once: a crash after a sink accepted a notification but
before its delivery was recorded sends it again. Every notification therefore
carries ``notification_id`` (its outbox id, the same on every attempt and to
every sink), and a receiver keeps the first of each id.

A sink's route (:mod:`alerts.routing`) may refuse a notification (an SMS
gateway takes only critical ones): it is recorded as handled for that sink,
with the reason, and never sent.

Notifications written while a maintenance window muted their alert
(``muted_by``) stay in the outbox for the record and the console's live
stream; no sink is sent them (see :mod:`alerts.maintenance`).

Each sink reads from its cursor (``outbox_cursors``): every notification below
it is handled for that sink. Outbox ids become visible in commit order, so a
poll costs the same after a year of notifications as on the first day. A sink
met for the first time (a webhook added to the configuration) starts with the
notifications of the last ``catch_up_s`` (10 minutes), not the whole history:
an SMS gateway added today must not page people for last month's alerts. The same holds for a sink
back after a day unserved (taken out of the configuration, then put back); a sink that is configured
but failing keeps its place, and its backlog.

A sink whose route has ``max_per_hour`` is sent at most that many notifications in any hour. Past it,
each is recorded for that sink as held back (never sent) and counted; once the sink may be sent again,
one digest goes first (``what: digest``: how many, of which severities, since when; its
``notification_id`` is ``digest:{since}``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import psycopg

from alerts.routing import Route, route_for, sink_label

log = logging.getLogger(__name__)

Sink = Callable[[str, bytes], None]  # (kind, payload) -> raises on failure


CATCH_UP_S = 600.0
AWAY_S = 86400.0  # a sink not served this long (no longer configured) is met afresh when it comes back


#: where a sink met for the first time starts: the notifications of the last ``catch_up_s``, else after the newest
_FIRST_SIGHT = (
    "coalesce((SELECT min(id) FROM alert_outbox WHERE created_at >= now() - make_interval(secs => %s)),"
    " (SELECT max(id) + 1 FROM alert_outbox), 1)"
)


def cursor(
    conn: psycopg.Connection[Any], name: str, catch_up_s: float = CATCH_UP_S, keep: bool = True
) -> int:
    """The first outbox id ``name`` may not have handled. A sink met for the first time, or back after
    ``AWAY_S`` unserved (removed from the configuration, then added again), starts with the notifications
    of the last ``catch_up_s`` (recorded as its cursor unless ``keep`` is false)."""
    row = conn.execute(
        "SELECT next_id, updated_at < now() - make_interval(secs => %s) FROM outbox_cursors WHERE sink = %s",
        (AWAY_S, name),
    ).fetchone()
    if row is not None and not (row[1] and keep):
        return int(row[0])
    if not keep:
        first = conn.execute(f"SELECT {_FIRST_SIGHT}", (catch_up_s,)).fetchone()
        assert first is not None
        return int(first[0])
    if row is not None:  # back after a long absence: the notifications in between are not its to send now
        moved = conn.execute(
            f"UPDATE outbox_cursors SET next_id = greatest(next_id, {_FIRST_SIGHT}), updated_at = now()"
            " WHERE sink = %s RETURNING next_id",
            (catch_up_s, name),
        ).fetchone()
        assert moved is not None
        skipped = conn.execute(
            "SELECT count(*) FROM alert_outbox WHERE id >= %s AND id < %s AND muted_by IS NULL",
            (row[0], moved[0]),
        ).fetchone()
        log.warning(
            "notifications: sink %s was not served for over %.0f h; it starts with the last %.0f s of the outbox"
            " (%d older notifications are not sent to it)",
            sink_label(name),
            AWAY_S / 3600,
            catch_up_s,
            skipped[0] if skipped else 0,
        )
        return int(moved[0])
    conn.execute(
        f"INSERT INTO outbox_cursors (sink, next_id) SELECT %s, {_FIRST_SIGHT} ON CONFLICT (sink) DO NOTHING",
        (name, catch_up_s),
    )
    log.info(
        "notifications: new sink %s starts with the last %.0f s of the outbox", sink_label(name), catch_up_s
    )
    return cursor(conn, name, catch_up_s)


def pending(conn: psycopg.Connection[Any], name: str) -> tuple[int, float | None]:
    """How many notifications ``name`` has not accepted yet, and the age in seconds of the oldest."""
    row = conn.execute(
        "SELECT count(*), extract(epoch FROM now() - min(o.created_at))::float8 FROM alert_outbox o"
        " WHERE o.id >= %s AND o.muted_by IS NULL AND NOT EXISTS (SELECT 1 FROM alert_deliveries d"
        "  WHERE d.outbox_id = o.id AND d.sink = %s AND d.delivered_at IS NOT NULL)",
        (cursor(conn, name, keep=False), name),
    ).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def drain(
    conn: psycopg.Connection[Any],
    name: str,
    sink: Sink,
    limit: int = 500,
    max_backoff_s: float = 300.0,
    route: Route | None = None,
) -> int:
    """Deliver up to ``limit`` notifications that ``name`` has not yet accepted; returns how many it accepted.
    Those its ``route`` refuses are recorded as handled for it (``last_error``: why), never sent."""
    start = cursor(conn, name)
    conn.execute(  # served now, though nothing may move (idle, or failing): this sink's, not away
        "UPDATE outbox_cursors SET updated_at = now() WHERE sink = %s AND updated_at < now() - interval '1 minute'",
        (name,),
    )
    limit_h = route.max_per_hour if route is not None else None
    sent_h = _sent_last_hour(conn, name) if limit_h else 0
    if limit_h and sent_h < limit_h and not _digest(conn, name, sink, max_backoff_s):
        return 0  # the digest of what was held back goes first; it failed: later
    rows = conn.execute(
        "SELECT o.id, a.kind, o.payload, o.muted_by IS NOT NULL, coalesce(d.attempts, 0),"
        " coalesce(d.next_attempt_at <= now(), true)"
        " FROM alert_outbox o JOIN alerts a ON a.id = o.alert_id"
        " LEFT JOIN alert_deliveries d ON d.outbox_id = o.id AND d.sink = %s"
        " WHERE o.id >= %s AND d.delivered_at IS NULL ORDER BY o.id LIMIT %s",
        (name, start, limit),
    ).fetchall()
    delivered = 0
    handled = start  # every id below is handled for this sink
    for oid, kind, payload, muted, attempts, due in rows:
        if muted:
            handled = oid + 1  # held back by maintenance: never sent (the alert is notified when it ends)
            continue
        if not due:
            break  # backing off; later notifications wait their turn
        if route is not None and (why := route.refuses(payload)):
            _handled(conn, oid, name, f"not routed here: {why}")
            handled = oid + 1
            continue
        if limit_h and sent_h >= limit_h:  # the sink has had its hour's worth: counted for the digest
            _hold(conn, oid, name, limit_h, str(payload.get("severity", "info")))
            handled = oid + 1
            continue
        try:
            sink(kind, orjson.dumps({**payload, "notification_id": oid}))
        except Exception as e:
            backoff = min(2.0**attempts, max_backoff_s)
            conn.execute(
                "INSERT INTO alert_deliveries (outbox_id, sink, attempts, next_attempt_at, last_error)"
                " VALUES (%s, %s, 1, now() + make_interval(secs => %s), %s)"
                " ON CONFLICT (outbox_id, sink) DO UPDATE SET attempts = alert_deliveries.attempts + 1,"
                " next_attempt_at = excluded.next_attempt_at, last_error = excluded.last_error",
                (oid, name, backoff, f"{type(e).__name__}: {e}"[:500]),
            )
            log.warning(
                "notification %d not delivered to %s (%s); retry in %.0fs", oid, sink_label(name), e, backoff
            )
            break
        conn.execute(
            "INSERT INTO alert_deliveries (outbox_id, sink, delivered_at, attempts) VALUES (%s, %s, now(), 1)"
            " ON CONFLICT (outbox_id, sink) DO UPDATE SET delivered_at = now(),"
            " attempts = alert_deliveries.attempts + 1, last_error = NULL",
            (oid, name),
        )
        handled = oid + 1
        delivered += 1
        sent_h += 1
    if handled > start:
        conn.execute(
            "UPDATE outbox_cursors SET next_id = greatest(next_id, %s), updated_at = now() WHERE sink = %s",
            (handled, name),
        )
    return delivered


def _sent_last_hour(conn: psycopg.Connection[Any], name: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM alert_deliveries WHERE sink = %s AND last_error IS NULL"
        " AND delivered_at > now() - interval '1 hour'",
        (name,),
    ).fetchone()
    return int(row[0]) if row else 0


def _handled(conn: psycopg.Connection[Any], oid: int, name: str, why: str) -> None:
    """Recorded as handled for sink ``name`` without being sent, and why."""
    conn.execute(
        "INSERT INTO alert_deliveries (outbox_id, sink, delivered_at, attempts, last_error)"
        " VALUES (%s, %s, now(), 0, %s) ON CONFLICT (outbox_id, sink) DO UPDATE"
        " SET delivered_at = now(), last_error = excluded.last_error",
        (oid, name, why),
    )


def _hold(conn: psycopg.Connection[Any], oid: int, name: str, limit_h: int, severity: str) -> None:
    """Over the sink's hourly cap: recorded as handled for it (never sent) and counted for the digest."""
    _handled(conn, oid, name, f"held back: over {limit_h} an hour for this sink (counted in its next digest)")
    conn.execute(
        "UPDATE outbox_cursors SET held = held + 1, held_since = coalesce(held_since, now()),"
        " held_counts = jsonb_set(held_counts, ARRAY[%s], to_jsonb(coalesce((held_counts->>%s)::int, 0) + 1))"
        " WHERE sink = %s",
        (severity, severity, name),
    )


def _digest(conn: psycopg.Connection[Any], name: str, sink: Sink, max_backoff_s: float) -> bool:
    """Send the digest of what the cap held back, if one is owed and due. False: the sink failed it (retried
    with backoff), so nothing else is sent to it yet."""
    row = conn.execute(
        "SELECT held, held_since, held_counts, digest_attempts, coalesce(digest_next_at <= now(), true)"
        " FROM outbox_cursors WHERE sink = %s",
        (name,),
    ).fetchone()
    if row is None or not row[0]:
        return True
    held, since, counts, attempts, due = row
    if not due:
        return False
    worst = next((s for s in ("critical", "warning", "info") if counts.get(s)), "info")
    digest = {
        "what": "digest",
        "kind": "platform",
        "severity": worst,
        "held": held,
        "by_severity": counts,
        "since": since.isoformat(),
        "title": f"{held} notification(s) held back",
        "message": f"{held} notification(s) were not sent here since {since.isoformat(timespec='seconds')}: "
        "more than this sink takes in an hour. The console has them all.",
        "notification_id": f"digest:{since.isoformat()}",
    }
    try:
        sink("platform", orjson.dumps(digest))
    except Exception as e:
        backoff = min(2.0**attempts, max_backoff_s)
        conn.execute(
            "UPDATE outbox_cursors SET digest_attempts = digest_attempts + 1,"
            " digest_next_at = now() + make_interval(secs => %s) WHERE sink = %s",
            (backoff, name),
        )
        log.warning("digest not delivered to %s (%s); retry in %.0fs", sink_label(name), e, backoff)
        return False
    conn.execute(
        "UPDATE outbox_cursors SET held = 0, held_since = NULL, held_counts = '{}', digest_attempts = 0,"
        " digest_next_at = NULL WHERE sink = %s",
        (name,),
    )
    log.info(
        "digest sent to %s: %d notification(s) held back since %s", sink_label(name), held, since.isoformat()
    )
    return True


class Dispatcher:
    """Drains the outbox to every sink, each in its own thread with its own connection."""

    def __init__(
        self,
        conninfo: str,
        sinks: Mapping[str, Sink],
        interval_s: float = 0.5,
        routes: Mapping[str, Route] | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.sinks = dict(sinks)
        self.routes: Mapping[str, Route] = routes or {}  # replaced whole when the rules file is reloaded
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def drain_once(self) -> int:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            return sum(
                drain(conn, name, sink, route=route_for(name, self.routes))
                for name, sink in self.sinks.items()
            )

    def _loop(self, name: str, sink: Sink) -> None:
        conn: psycopg.Connection[Any] | None = None
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.conninfo, autocommit=True)
                while drain(conn, name, sink, route=route_for(name, self.routes)) and not self._stop.is_set():
                    pass
            except psycopg.Error as e:
                log.error("outbox for %s: %s", sink_label(name), str(e).strip().splitlines()[0])
                conn = None
            self._stop.wait(self.interval_s)
        if conn is not None:
            conn.close()

    def start(self) -> None:
        self._stop.clear()
        self._threads = []
        for name, sink in self.sinks.items():
            t = threading.Thread(target=self._loop, args=(name, sink), name=f"notify-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)
