"""Each sink reads the outbox from its cursor (real PostgreSQL): a poll does not rescan the history, a sink
met for the first time does not replay it, muted and refused notifications move the cursor on, a sink that
is failing holds it, and an upgraded database resumes each sink where it stood."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg

from alerts import outbox, store
from alerts.model import Explanation, Raise, Severity
from alerts.routing import Route
from citywatch.db.migrate import migrate

Conn = psycopg.Connection[Any]


def raise_alert(conn: Conn, subject: str, severity: Severity = Severity.CRITICAL) -> None:
    store.apply(
        conn,
        Raise("cctv.fire", subject, "cctv", severity, f"Fire at {subject}", Explanation(rule="cctv.fire")),
        datetime.now(UTC),
    )


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.got: list[dict[str, Any]] = []
        self.fail = fail

    def __call__(self, _kind: str, payload: bytes) -> None:
        if self.fail:
            raise ConnectionError("gateway down")
        self.got.append(orjson.loads(payload))


def next_id(conn: Conn, sink: str) -> int | None:
    row = conn.execute("SELECT next_id FROM outbox_cursors WHERE sink = %s", (sink,)).fetchone()
    return None if row is None else int(row[0])


def last_id(conn: Conn) -> int:
    row = conn.execute("SELECT max(id) FROM alert_outbox").fetchone()
    assert row is not None
    return int(row[0])


def test_a_poll_reads_from_the_cursor_not_the_history(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        for i in range(3):
            raise_alert(conn, f"cam-{i}")
        sink = Sink()
        assert outbox.drain(conn, "mqtt", sink) == 3
        assert next_id(conn, "mqtt") == last_id(conn) + 1
        # were the history rescanned, these three would look undelivered and go out again
        conn.execute("DELETE FROM alert_deliveries")
        assert outbox.drain(conn, "mqtt", sink) == 0
        raise_alert(conn, "cam-9")
        assert outbox.drain(conn, "mqtt", sink) == 1
    assert [n["subject"] for n in sink.got] == ["cam-0", "cam-1", "cam-2", "cam-9"]


def test_a_new_sink_starts_with_the_last_minutes_not_the_whole_history(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        raise_alert(conn, "cam-old")
        conn.execute("UPDATE alert_outbox SET created_at = now() - interval '2 hours'")
        raise_alert(conn, "cam-new")
        sms = Sink()
        assert outbox.drain(conn, "webhook:sms", sms) == 1
        assert [n["subject"] for n in sms.got] == ["cam-new"]
        # with nothing recent, it starts after the newest notification
        conn.execute("UPDATE alert_outbox SET created_at = now() - interval '2 hours'")
        pager = Sink()
        assert outbox.drain(conn, "webhook:pager", pager) == 0 and pager.got == []
        assert next_id(conn, "webhook:pager") == last_id(conn) + 1
        raise_alert(conn, "cam-later")
        assert outbox.drain(conn, "webhook:pager", pager) == 1
        assert [n["subject"] for n in pager.got] == ["cam-later"]


def test_a_failing_sink_holds_its_cursor_and_loses_nothing(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        raise_alert(conn, "cam-1")
        start = outbox.cursor(conn, "hook")
        raise_alert(conn, "cam-2")
        down = Sink(fail=True)
        assert outbox.drain(conn, "hook", down) == 0
        assert next_id(conn, "hook") == start
        assert outbox.pending(conn, "hook")[0] == 2
        conn.execute("UPDATE alert_deliveries SET next_attempt_at = now()")
        up = Sink()
        assert outbox.drain(conn, "hook", up) == 2
        assert [n["subject"] for n in up.got] == ["cam-1", "cam-2"]
        assert outbox.pending(conn, "hook") == (0, None)


def test_muted_and_refused_notifications_move_the_cursor_on(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        outbox.cursor(conn, "webhook:sms")
        raise_alert(conn, "cam-info", Severity.INFO)  # refused by the route below
        raise_alert(conn, "cam-muted")
        wid = conn.execute(
            "INSERT INTO maintenance (subject, starts_at, ends_at, reason, created_by)"
            " VALUES ('cam-muted', now(), now() + interval '1 hour', 'lens swap', 'op') RETURNING id"
        ).fetchone()
        assert wid is not None
        conn.execute("UPDATE alert_outbox SET muted_by = %s WHERE payload->>'subject' = 'cam-muted'", wid)
        sms = Sink()
        route = Route(min_severity="warning")
        assert outbox.drain(conn, "webhook:sms", sms, route=route) == 0
        assert sms.got == []
        assert next_id(conn, "webhook:sms") == last_id(conn) + 1
        assert outbox.pending(conn, "webhook:sms") == (0, None)


def test_pending_counts_and_ages_what_a_sink_has_not_accepted(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        outbox.cursor(conn, "hook")
        raise_alert(conn, "cam-1")
        raise_alert(conn, "cam-2")
        conn.execute("UPDATE alert_outbox SET created_at = now() - interval '90 seconds'")
        n, age = outbox.pending(conn, "hook")
        assert n == 2 and age is not None and 89 < age < 200
        # a sink never seen would start with the last ten minutes: it is owed these two too,
        # and asking does not give it a cursor
        assert outbox.pending(conn, "webhook:new")[0] == 2
        assert next_id(conn, "webhook:new") is None


def test_an_upgraded_database_resumes_each_sink_where_it_stood(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        for i in range(4):
            raise_alert(conn, f"cam-{i}")
        ids = [r[0] for r in conn.execute("SELECT id FROM alert_outbox ORDER BY id")]
        # as before cursors existed: mqtt took all four; the webhook took two and was retrying the third
        conn.execute("DROP TABLE outbox_cursors")
        conn.execute("DELETE FROM schema_migrations WHERE version = 11")
        for oid in ids:
            conn.execute(
                "INSERT INTO alert_deliveries (outbox_id, sink, delivered_at, attempts) VALUES (%s, 'mqtt', now(), 1)",
                (oid,),
            )
        for oid in ids[:2]:
            conn.execute(
                "INSERT INTO alert_deliveries (outbox_id, sink, delivered_at, attempts) VALUES (%s, 'hook', now(), 1)",
                (oid,),
            )
        conn.execute(
            "INSERT INTO alert_deliveries (outbox_id, sink, attempts, last_error) VALUES (%s, 'hook', 3, 'down')",
            (ids[2],),
        )
    migrate(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert next_id(conn, "mqtt") == ids[-1] + 1
        assert next_id(conn, "hook") == ids[2]
        conn.execute("UPDATE alert_outbox SET created_at = now() - interval '1 day'")  # old, yet still owed
        hook = Sink()
        assert outbox.drain(conn, "hook", hook) == 2
        assert [n["subject"] for n in hook.got] == ["cam-2", "cam-3"]


def test_a_sink_back_after_a_day_away_does_not_replay_what_it_missed(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        raise_alert(conn, "cam-0")
        hook = Sink()
        assert outbox.drain(conn, "hook", hook) == 1
        # taken out of the configuration for two days, during which three alerts were raised
        conn.execute("UPDATE outbox_cursors SET updated_at = now() - interval '2 days'")
        for i in (1, 2, 3):
            raise_alert(conn, f"cam-{i}")
        conn.execute("UPDATE alert_outbox SET created_at = now() - interval '1 day'")
        raise_alert(conn, "cam-4")
        assert outbox.drain(conn, "hook", hook) == 1  # back: the last ten minutes only
        assert [n["subject"] for n in hook.got] == ["cam-0", "cam-4"]


def test_a_failing_sink_is_not_away_however_long_it_fails(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        raise_alert(conn, "cam-1")
        outbox.cursor(conn, "hook")
        conn.execute("UPDATE outbox_cursors SET updated_at = now() - interval '23 hours'")
        assert outbox.drain(conn, "hook", Sink(fail=True)) == 0  # served, and failing: its place is kept
        fresh = conn.execute("SELECT updated_at > now() - interval '1 minute' FROM outbox_cursors").fetchone()
        assert fresh == (True,)
        conn.execute("UPDATE alert_outbox SET created_at = now() - interval '2 days'")
        conn.execute("UPDATE alert_deliveries SET next_attempt_at = now()")
        up = Sink()
        assert outbox.drain(conn, "hook", up) == 1 and up.got[0]["subject"] == "cam-1"  # the backlog, kept
