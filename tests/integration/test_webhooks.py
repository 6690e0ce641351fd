"""Webhook delivery: retries with backoff, signed bodies, and a hanging receiver
that never blocks the engine."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import psycopg
import pytest
from prometheus_client import generate_latest

from alerts import outbox, store
from alerts.model import Explanation, Raise, Severity
from alerts.webhook import Webhook
from analytics.metrics import AnalyticsMetrics
from citywatch import logs


class Receiver:
    def __init__(self, fail_first: int = 0, hang_s: float = 0.0) -> None:
        self.fail_first = fail_first
        self.hang_s = hang_s
        self.got: list[tuple[dict[str, object], dict[str, str]]] = []
        self.calls = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.calls += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.hang_s:
                    time.sleep(receiver.hang_s)
                if receiver.calls <= receiver.fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.got.append((orjson.loads(body), dict(self.headers)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail_first=2)
    yield r
    r.close()


def raise_alert(conn: psycopg.Connection, subject: str) -> None:  # type: ignore[type-arg]
    store.apply(
        conn,
        Raise(
            "cctv.fire",
            subject,
            "cctv",
            Severity.CRITICAL,
            f"Fire at {subject}",
            Explanation(rule="cctv.fire", message="fire"),
        ),
        datetime.now(UTC),
    )


def test_retries_with_backoff_then_delivers_in_order_signed(db_url: str, receiver: Receiver) -> None:
    hook = Webhook(receiver.url, secret="s3cret")
    with psycopg.connect(db_url, autocommit=True) as conn:
        raise_alert(conn, "cam-1")
        raise_alert(conn, "cam-2")
        assert outbox.drain(conn, "hook", hook) == 0  # 500
        row = conn.execute(
            "SELECT attempts, last_error, next_attempt_at > now() FROM alert_deliveries"
        ).fetchone()
        assert row is not None and row[0] == 1 and "500" in row[1] and row[2]
        assert outbox.drain(conn, "hook", hook) == 0  # backing off: not even tried
        assert receiver.calls == 1
        conn.execute("UPDATE alert_deliveries SET next_attempt_at = now()")
        assert outbox.drain(conn, "hook", hook) == 0  # second failure, backoff doubles
        backoff = conn.execute(
            "SELECT extract(epoch FROM next_attempt_at - now()) FROM alert_deliveries"
        ).fetchone()
        assert backoff is not None and 1.0 < float(backoff[0]) <= 2.1
        conn.execute("UPDATE alert_deliveries SET next_attempt_at = now()")
        assert outbox.drain(conn, "hook", hook) == 2
        assert outbox.drain(conn, "hook", hook) == 0  # nothing twice
    assert [b["subject"] for b, _ in receiver.got] == ["cam-1", "cam-2"]
    body, headers = receiver.got[0]
    mac = hmac.new(b"s3cret", orjson.dumps(body), hashlib.sha256).hexdigest()
    assert headers["X-Citywatch-Signature"] == f"sha256={mac}"
    assert body["what"] == "opened" and body["severity"] == "critical"
    # each notification names itself, the same on every attempt, so a receiver can drop a redelivery
    ids = [b["notification_id"] for b, _ in receiver.got]
    assert len(set(ids)) == 2 and ids == sorted(ids)
    assert [h["Idempotency-Key"] for _, h in receiver.got] == [str(i) for i in ids]  # also as the header


def test_a_hanging_receiver_does_not_block_the_engine(db_url: str) -> None:
    slow = Receiver(hang_s=3.0)
    try:
        dispatcher = outbox.Dispatcher(db_url, {"hook": Webhook(slow.url, timeout_s=0.5)}, interval_s=0.1)
        dispatcher.start()
        with psycopg.connect(db_url, autocommit=True) as conn:
            t0 = time.monotonic()
            for i in range(20):  # the engine keeps raising alerts while the receiver hangs
                raise_alert(conn, f"cam-{i}")
            assert time.monotonic() - t0 < 2.0
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT last_error FROM alert_deliveries WHERE last_error IS NOT NULL"
                ).fetchone()
                if row:
                    break
                time.sleep(0.1)
            assert row is not None and "Timeout" in row[0]  # the failure is visible
        dispatcher.stop()
    finally:
        slow.close()


def test_a_webhook_token_reaches_no_log_line_stored_error_or_metric_label(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    r = Receiver(fail_first=1)
    token = "tok-9f8e7d6c5b4a"
    name = f"webhook:{r.url}?token={token}"
    logs.setup()  # the services' logging: libraries' per-request lines (httpx names every URL) held back
    try:
        with caplog.at_level(logging.INFO), psycopg.connect(db_url, autocommit=True) as conn:
            raise_alert(conn, "cam-1")
            assert outbox.drain(conn, name, Webhook(name.removeprefix("webhook:"))) == 0  # refused: HTTP 500
            error = conn.execute("SELECT last_error FROM alert_deliveries").fetchone()
            assert error is not None and error[0] == "WebhookRefused: HTTP 500 Internal Server Error"
            conn.execute("UPDATE alert_deliveries SET next_attempt_at = now()")
            assert outbox.drain(conn, name, Webhook(name.removeprefix("webhook:"))) == 1  # then delivered
        metrics = AnalyticsMetrics(db_url, lambda: [name, f"webhook:{r.url}?token=another"])
        exposition = generate_latest(metrics.registry).decode()
    finally:
        r.close()
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "not delivered to webhook:http://127.0.0.1" in logged  # the failure was logged, by host
    assert 'citywatch_notifications_undelivered{sink="webhook:http://127.0.0.1:' in exposition
    # two webhooks on one host are two series
    assert len(re.findall(r"^citywatch_notifications_undelivered\{", exposition, re.M)) == 2
    assert token not in logged and token not in exposition and "another" not in exposition
