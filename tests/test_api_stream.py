"""The live alert stream (SSE): an alert raised through MQTT reaches a subscriber end to end, and a
subscriber that reconnects with Last-Event-ID gets exactly what it missed."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import psycopg

from alerts import store
from alerts.model import Explanation, Raise, Severity
from tests.conftest import Api, fire_alert_through_mqtt, wait_for


class Subscriber:
    """Reads an SSE stream in a thread; ``events`` holds (id, event, data)."""

    def __init__(self, api: Api, token: str, **params: Any) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.comments: list[str] = []
        self.api, self.token, self.params = api, token, params
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._read()
        except httpx.TransportError:
            if not self.stop.is_set():
                raise

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        if "last_event_id" in self.params:
            headers["Last-Event-ID"] = str(self.params.pop("last_event_id"))
        with (
            httpx.Client(timeout=None) as client,
            client.stream(
                "GET", f"{self.api.url}/api/v1/alerts/stream", params=self.params, headers=headers
            ) as r,
        ):
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            ev: dict[str, str] = {}
            for line in r.iter_lines():
                if self.stop.is_set():
                    return
                if line.startswith(":"):
                    self.comments.append(line)
                elif line == "":
                    if "data" in ev:
                        self.events.append(
                            (ev.get("id", ""), ev.get("event", "message"), orjson.loads(ev["data"]))
                        )
                    ev = {}
                else:
                    k, _, v = line.partition(":")
                    ev[k] = v.removeprefix(" ")

    def close(self) -> None:
        """Stop listening (the thread ends at the next event, keepalive or shutdown)."""
        self.stop.set()


def _raise(api: Api, subject: str, sev: Severity = Severity.WARNING) -> None:
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        store.apply(
            conn,
            Raise("test.rule", subject, "aq", sev, f"t {subject}", Explanation(rule="test.rule")),
            datetime.now(UTC),
        )


def test_an_alert_raised_through_mqtt_reaches_the_stream(api: Api) -> None:
    p = api.platform
    sub = Subscriber(api, api.token("viewer"), kind="cctv")
    assert wait_for(lambda: bool(sub.comments), 10)  # connected
    cam = fire_alert_through_mqtt(p)
    assert wait_for(lambda: any(e[2]["rule"] == "cctv.fire" for e in sub.events), 10), sub.events
    _id, what, data = next(e for e in sub.events if e[2]["rule"] == "cctv.fire")
    assert what == "opened" and data["subject"] == cam.device_id and data["severity"] == "critical"
    assert data["explanation"]["rule"] == "cctv.fire"
    assert all(e[2]["kind"] == "cctv" for e in sub.events)  # the filter holds
    sub.close()


def test_a_reconnecting_subscriber_misses_nothing(api: Api) -> None:
    token = api.token("viewer")
    first = Subscriber(api, token)
    assert wait_for(lambda: bool(first.comments), 10)
    _raise(api, "a")
    _raise(api, "b")
    assert wait_for(lambda: len(first.events) == 2, 10)
    last_id = first.events[-1][0]
    first.close()
    # while nobody listens: three more notifications (two alerts opened, one acknowledged via the API)
    _raise(api, "c")
    _raise(api, "d", Severity.CRITICAL)
    with api.client("operator") as op:
        aid = api.platform.scalar("SELECT id FROM alerts WHERE subject = 'a'")
        assert op.post(f"/api/v1/alerts/{aid}/acknowledge").status_code == 200
    again = Subscriber(api, token, last_event_id=last_id)
    assert wait_for(lambda: len(again.events) == 3, 10), again.events
    assert [(e[1], e[2]["subject"]) for e in again.events] == [
        ("opened", "c"),
        ("opened", "d"),
        ("acknowledged", "a"),
    ]
    ids = [int(e[0]) for e in first.events + again.events]
    assert ids == sorted(ids) and len(set(ids)) == 5
    # live again after the catch-up; and a critical-only subscriber replaying from the start
    _raise(api, "e")
    assert wait_for(lambda: len(again.events) == 4, 10)
    crit = Subscriber(api, token, after=0, min_severity="critical")
    assert wait_for(lambda: len(crit.events) == 1, 10)
    assert crit.events[0][2]["subject"] == "d"
    for s in (again, crit):
        s.close()


def test_concurrent_writers_never_make_a_reader_skip(api: Api) -> None:
    """Outbox ids become visible in order: a subscriber sees every one of many concurrent raises."""
    sub = Subscriber(api, api.token("viewer"))
    assert wait_for(lambda: bool(sub.comments), 10)

    def writer(k: int) -> None:
        for i in range(25):
            _raise(api, f"w{k}-{i}")

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wait_for(lambda: len(sub.events) == 100, 20), len(sub.events)
    ids = [int(e[0]) for e in sub.events]
    assert ids == sorted(ids)
    assert {e[2]["subject"] for e in sub.events} == {f"w{k}-{i}" for k in range(4) for i in range(25)}
    sub.close()
