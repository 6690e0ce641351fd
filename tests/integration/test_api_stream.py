"""The live alert stream (SSE): an alert raised through MQTT reaches a subscriber end to end, and a
subscriber that reconnects with Last-Event-ID gets exactly what it missed."""

from __future__ import annotations

import threading

from alerts.model import Severity
from tests.support import Api, Subscriber, fire_alert_through_mqtt, raise_alert, wait_for


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
    raise_alert(api, "a")
    raise_alert(api, "b")
    assert wait_for(lambda: len(first.events) == 2, 10)
    last_id = first.events[-1][0]
    first.close()
    # while nobody listens: three more notifications (two alerts opened, one acknowledged via the API)
    raise_alert(api, "c")
    raise_alert(api, "d", Severity.CRITICAL)
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
    raise_alert(api, "e")
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
            raise_alert(api, f"w{k}-{i}")

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
