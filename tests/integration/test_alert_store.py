"""The alert store on real PostgreSQL: de-duplication under concurrency, audit, outbox."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from alerts import queries, store
from alerts.model import Acknowledge, Clear, Explanation, IllegalTransition, Raise, Resolve, Severity, State
from alerts.runbooks import Procedure

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def raise_(subject: str = "aq-001", sev: Severity = Severity.WARNING, value: float = 1.0) -> Raise:
    return Raise(
        "flatline",
        subject,
        "aq",
        sev,
        "PM2.5 sensor stuck",
        Explanation(rule="flatline", observed=value, threshold=30, window_start=T0, message="stuck"),
        value,
    )


def test_concurrent_raises_make_one_alert(db_url: str) -> None:
    def worker(w: int) -> None:
        with psycopg.connect(db_url, autocommit=True) as conn:
            for i in range(25):
                store.apply(conn, raise_(value=i), T0 + timedelta(seconds=i, milliseconds=w))

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT count, state, peak FROM alerts").fetchall()
        audits = conn.execute("SELECT action FROM alert_audit").fetchall()
        outbox = conn.execute("SELECT what FROM alert_outbox").fetchall()
    # one alert, however the raises interleaved (a raise older than the alert's last sighting is a replay)
    assert len(rows) == 1
    count, state, peak = rows[0]
    assert state == "open" and peak == 24.0 and 25 <= count <= 100
    assert audits == [("opened",)]
    assert outbox == [("opened",)]


def test_lifecycle_round_trip_with_audit_trail(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        a = store.apply(conn, raise_(), T0)
        assert a is not None and a.id is not None
        acked = store.apply(conn, Acknowledge("kim"), T0 + timedelta(minutes=1), alert_id=a.id)
        assert acked is not None and acked.state is State.ACKNOWLEDGED
        with pytest.raises(IllegalTransition):
            store.apply(conn, Acknowledge("lee"), T0 + timedelta(minutes=2), alert_id=a.id)
        done = store.apply(conn, Resolve("kim", "sensor cleaned"), T0 + timedelta(minutes=3), alert_id=a.id)
        assert done is not None and done.state is State.RESOLVED
        # the condition comes back within the re-open window: the same alert re-opens
        again = store.apply(conn, raise_(), T0 + timedelta(minutes=5))
        assert again is not None and again.id == a.id and again.reopen_count == 1
        # clears on its own
        cleared = store.apply(conn, Clear(), T0 + timedelta(minutes=6), key=a.key)
        assert cleared is not None and cleared.state is State.RESOLVED and cleared.resolved_by == "system"
        # much later: a new alert, the old one stays resolved
        new = store.apply(conn, raise_(), T0 + timedelta(hours=3))
        assert new is not None and new.id != a.id
        trail = conn.execute(
            "SELECT action, actor, from_state, to_state FROM alert_audit WHERE alert_id = %s ORDER BY id",
            (a.id,),
        ).fetchall()
        expl = conn.execute("SELECT explanation FROM alerts WHERE id = %s", (a.id,)).fetchone()
    assert trail == [
        ("opened", "system", None, "open"),
        ("acknowledged", "kim", "open", "acknowledged"),
        ("resolved", "kim", "acknowledged", "resolved"),
        ("reopened", "system", "resolved", "open"),
        ("auto_resolved", "system", "open", "resolved"),
    ]
    assert (
        expl is not None
        and expl[0]["rule"] == "flatline"
        and expl[0]["window_start"].startswith("2026-05-01")
    )


def test_clear_for_unknown_key_is_harmless(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert store.apply(conn, Clear(), T0, key="nothing:here") is None


def test_the_rules_runbook_is_on_the_alert_and_every_notification_of_it(db_url: str) -> None:
    from alerts.model import Policy, Tick

    steps = {"ko": ("카메라 영상을 벽면 화면에 띄운다", "확인되면 119에 신고한다"),
             "en": ("Put the camera on the wall screen", "Confirmed: call 119")}  # fmt: skip
    procedure = Policy(escalate_after_s=60, runbook=Procedure(steps))
    fire = Raise("cctv.fire", "cam-1", "cctv", Severity.CRITICAL, "Fire", Explanation(rule="cctv.fire"))
    with psycopg.connect(db_url, autocommit=True) as conn:
        a = store.apply(conn, fire, T0, policy=procedure)
        assert a is not None
        # escalation and the operator's acts come without the rule's policy: the alert keeps its runbook
        store.apply(
            conn, Tick(), T0 + timedelta(minutes=2), alert_id=a.id, policy=Policy(escalate_after_s=60)
        )
        store.apply(conn, Acknowledge("kim"), T0 + timedelta(minutes=3), alert_id=a.id)
        runbook = conn.execute("SELECT runbook FROM alerts WHERE id = %s", (a.id,)).fetchone()
        sent = conn.execute("SELECT what, payload->'runbook' FROM alert_outbox ORDER BY id").fetchall()
        # a rule without a procedure has none
        store.apply(conn, raise_(), T0)
        none = conn.execute("SELECT runbook FROM alerts WHERE rule = 'flatline'").fetchone()
    as_json = {lang: list(s) for lang, s in steps.items()}
    assert runbook == (as_json,)
    assert sent == [(w, as_json) for w in ("opened", "escalated", "acknowledged")]
    assert none == (None,)


def test_an_annunciation_keeps_the_severity_it_was_announced_with(db_url: str) -> None:
    """An alert that opened as a warning and was raised to critical later reached the operators as a
    warning: the alarm load counts it so (the audit trail keeps each step's severity)."""
    t0 = datetime.now(UTC) - timedelta(minutes=30)
    with psycopg.connect(db_url, autocommit=True) as conn:
        for i, sev in enumerate((Severity.WARNING, Severity.CRITICAL)):
            store.apply(
                conn,
                Raise("aq.drift", "aq-7", "aq", sev, "Drift", Explanation("d")),
                t0 + timedelta(minutes=i),
            )
        items, _live = queries.annunciations(conn, t0 - timedelta(minutes=1), t0 + timedelta(hours=1))
        assert [(a.subject, a.severity) for a in items] == [("aq-7", Severity.WARNING)]
        crit, live_crit = queries.annunciations(
            conn, t0 - timedelta(minutes=1), t0 + timedelta(hours=1), min_severity=Severity.CRITICAL
        )
        assert crit == [] and len(live_crit) == 1  # announced as a warning; live as a critical
        steps = conn.execute("SELECT action, severity FROM alert_audit ORDER BY id").fetchall()
        assert steps[0] == ("opened", int(Severity.WARNING)) and steps[-1][1] == int(Severity.CRITICAL)


def _count(db_url: str, sql: str) -> int:
    with psycopg.connect(db_url) as other:
        row = other.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_a_batch_commits_every_batch_events_and_at_its_end(db_url: str) -> None:
    """Within a batch other connections see the alerts a whole transaction of BATCH_EVENTS at a time, and
    the rest at its end; each event still opens its alert, its audit row and its notification."""
    from alerts.config import AlertRules
    from alerts.writer import BATCH_EVENTS, AlertWriter

    with psycopg.connect(db_url, autocommit=True) as conn:
        writer = AlertWriter(lambda: conn, lambda: AlertRules())
        writer.batch_s = 3600.0  # by count alone here, however slow the machine
        with writer.batch():
            for i in range(BATCH_EVENTS - 1):
                writer.apply(f"flatline:aq-{i:03d}", raise_(f"aq-{i:03d}"), T0)
            assert _count(db_url, "SELECT count(*) FROM alerts") == 0  # not yet committed
            writer.apply(f"flatline:aq-{BATCH_EVENTS - 1:03d}", raise_(f"aq-{BATCH_EVENTS - 1:03d}"), T0)
            assert _count(db_url, "SELECT count(*) FROM alerts") == BATCH_EVENTS
            writer.apply("flatline:aq-999", raise_("aq-999"), T0)
            writer.apply("flatline:aq-000", Clear("back"), T0 + timedelta(minutes=1))
            assert _count(db_url, "SELECT count(*) FROM alerts") == BATCH_EVENTS
        assert _count(db_url, "SELECT count(*) FROM alerts") == BATCH_EVENTS + 1
    assert _count(db_url, "SELECT count(*) FROM alerts WHERE state = 'resolved'") == 1
    assert _count(db_url, "SELECT count(*) FROM alert_audit WHERE action = 'opened'") == BATCH_EVENTS + 1
    assert _count(db_url, "SELECT count(*) FROM alert_outbox WHERE what = 'opened'") == BATCH_EVENTS + 1


def test_a_failed_batch_leaves_nothing_and_its_replay_writes_each_event_once(db_url: str) -> None:
    """A batch that fails rolls back the transaction under way; replaying its events (what analytics does,
    from its saved state) writes them once, and replaying events already committed changes nothing."""
    from alerts.config import AlertRules
    from alerts.writer import AlertWriter

    events = [
        (f"flatline:aq-{i}", raise_(f"aq-{i}", value=float(i)), T0 + timedelta(minutes=i)) for i in range(5)
    ]
    with psycopg.connect(db_url, autocommit=True) as conn:
        writer = AlertWriter(lambda: conn, lambda: AlertRules())
        writer.batch_s = 3600.0  # one transaction, however slow the machine
        with pytest.raises(psycopg.errors.UndefinedTable), writer.batch():
            for key, ev, at in events:
                writer.apply(key, ev, at)
            conn.execute("SELECT * FROM no_such_table")  # the step fails before its end
        assert _count(db_url, "SELECT count(*) FROM alerts") == 0
        for _ in range(2):  # the replay, then a replay of what committed
            with writer.batch():
                writer.apply_all(events)
    assert _count(db_url, "SELECT count(*) FROM alerts") == 5
    assert _count(db_url, "SELECT sum(count) FROM alerts") == 5
    assert _count(db_url, "SELECT count(*) FROM alert_audit") == 5
    assert _count(db_url, "SELECT count(*) FROM alert_outbox") == 5


def test_a_batch_commits_at_a_checkpoint_once_its_transaction_is_old(db_url: str) -> None:
    """A long stretch of work between events does not hold the batch's locks: a checkpoint commits what
    the batch holds once its transaction is batch_s old, not before."""
    import time

    from alerts.config import AlertRules
    from alerts.writer import AlertWriter

    with psycopg.connect(db_url, autocommit=True) as conn:
        writer = AlertWriter(lambda: conn, lambda: AlertRules())
        writer.batch_s = 3600.0
        with writer.batch():
            writer.apply("flatline:aq-001", raise_("aq-001"), T0)
            writer.checkpoint()
            assert _count(db_url, "SELECT count(*) FROM alerts") == 0  # young: still held
            writer.batch_s = 0.05
            time.sleep(writer.batch_s)
            writer.checkpoint()
            assert _count(db_url, "SELECT count(*) FROM alerts") == 1
            writer.apply("flatline:aq-002", raise_("aq-002"), T0)
        assert _count(db_url, "SELECT count(*) FROM alerts") == 2


def test_load_many_finds_for_each_key_what_one_load_finds(db_url: str) -> None:
    """The alerts of several keys read in one go: the live one, else the one resolved last (to re-open),
    else none — as the load of one key finds them."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        store.apply(conn, raise_("aq-live"), T0)
        for i in range(2):  # aq-back: resolved twice, the second time later
            opened = T0 + timedelta(hours=2 * i)
            store.apply(conn, raise_("aq-back"), opened)
            a = store.apply(conn, Acknowledge("op"), opened + timedelta(minutes=1), key="flatline:aq-back")
            assert a is not None
            store.apply(conn, Resolve("op", "done"), opened + timedelta(minutes=2), alert_id=a.id)
        store.apply(conn, raise_("aq-back"), T0 + timedelta(days=30))  # re-opens? no: a new one, long after
        store.apply(conn, Clear("back"), T0 + timedelta(days=30, minutes=5), key="flatline:aq-back")
        keys = ["flatline:aq-live", "flatline:aq-back", "flatline:aq-none"]
        with conn.transaction():
            got = store.load_many(conn, keys)
        with conn.transaction(), conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            one = {k: store._load(cur, k, None) for k in keys}
    assert got == one
    assert got["flatline:aq-live"] is not None and got["flatline:aq-live"].state is State.OPEN
    back = got["flatline:aq-back"]
    assert back is not None and back.opened_at == T0 + timedelta(days=30) and back.state is State.RESOLVED
    assert _count(db_url, "SELECT count(*) FROM alerts WHERE key = 'flatline:aq-back'") == 3
    assert got["flatline:aq-none"] is None


def test_what_a_batch_holds_is_applied_before_the_writer_reads_the_alerts(db_url: str) -> None:
    """Within a batch, events wait for its next checkpoint; the writer's own reads (live alerts, the
    devices of resolved ones) first apply what it holds, in order."""
    from alerts.config import AlertRules
    from alerts.writer import AlertWriter

    with psycopg.connect(db_url, autocommit=True) as conn:
        writer = AlertWriter(lambda: conn, lambda: AlertRules())
        writer.batch_s = 3600.0
        with writer.batch():
            writer.apply("flatline:aq-001", raise_("aq-001"), T0)
            writer.apply("flatline:aq-002", raise_("aq-002"), T0)
            writer.apply("flatline:aq-001", Clear("back"), T0 + timedelta(minutes=1))
            assert set(writer.live("flatline")) == {"aq-002"}
            assert _count(db_url, "SELECT count(*) FROM alerts") == 0  # in the batch's transaction only
        assert _count(db_url, "SELECT count(*) FROM alerts") == 2
