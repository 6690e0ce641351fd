"""The boarding bell end to end through a real Mosquitto and TimescaleDB: the
right driver terminal hears of waiting passengers, a pass is caught and the
next bus is told, a reconnecting terminal gets its state, the requester hears back."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from boarding.gtfs import load
from boarding.service import BoardingService, wait_for_feed
from citywatch import broker
from citywatch.contracts import messages as m
from citywatch.contracts.topics import DeviceKind, bus_downlink, stop_reply, topic_for
from simulators.city import Scale, build_city
from simulators.gtfs import write_feed
from simulators.publisher import Publisher
from tests.support import SECRET, SMALL, Platform, city_platform, positions, request, send_positions, wait_for


class Listener:
    def __init__(self, p: Platform, user: str, topic: str) -> None:
        self.got: list[dict[str, object]] = []
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-{uuid.uuid4().hex[:6]}")
        self.c.username_pw_set(user, broker.derive_password(SECRET, user))
        self.c.on_message = lambda _c, _u, msg: self.got.append(orjson.loads(msg.payload))
        ready = threading.Event()
        self.c.on_subscribe = lambda *_a: ready.set()
        self.c.on_connect = lambda c, *_a: c.subscribe(topic, qos=1)
        self.c.connect("127.0.0.1", p.broker.port)
        self.c.loop_start()
        assert ready.wait(5)

    def last(self) -> dict[str, object] | None:
        return self.got[-1] if self.got else None

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def start_bell(platform: Platform, tmp_path: Path, **boarding: float):  # type: ignore[no-untyped-def]
    """The bell on the city's feed file, ``boarding`` settings changed."""
    feed = write_feed(platform.city, tmp_path / "gtfs.zip")
    settings = platform.settings()
    settings.boarding.gtfs = feed
    for name, value in boarding.items():
        setattr(settings.boarding, name, value)
    service = BoardingService(settings, client_id=f"boarding-{uuid.uuid4().hex[:6]}")
    t = threading.Thread(target=service.run, daemon=True)
    t.start()
    assert service.connected.wait(10)
    time.sleep(0.3)
    return service, t, load(feed)


@pytest.fixture
def bell(platform: Platform, tmp_path: Path):  # type: ignore[no-untyped-def]
    service, t, net = start_bell(platform, tmp_path)
    yield service, net
    service.stop()
    t.join(10)


def only_this_one_is_told(  # type: ignore[no-untyped-def]
    p: Platform,
    service: BoardingService,
    pub: Publisher,
    stop: str,
    route: str,
    told: tuple[str, Listener],
    other: tuple[str, Listener],
):
    """A passenger asks at ``stop``: the bus ``told`` hears of it (and the request is assigned to it),
    the ``other`` bus's terminal hears nothing of it — checked against a marker the bell's own
    connection publishes to that terminal once the request is handled, so anything the bell told it
    about the request would have arrived first."""
    bus, term = told
    other_bus, other_term = other
    assert wait_for(lambda: service.inbox.empty(), 5)  # the positions before it are handled
    handled = service.handled
    rid = request(pub, f"stop-{stop[3:]}", stop, route, n=1)
    assert wait_for(lambda: term.last() is not None and term.last()["stops"], 5)  # type: ignore[index]
    assert term.last()["stops"][0]["request_ids"] == [rid]  # type: ignore[index]
    # the request handled: everything it made the bell publish is on the bell's connection before the marker
    assert wait_for(lambda: service.handled > handled and service.inbox.empty(), 5)
    service.mqtt.publish(bus_downlink(other_bus, "marker"), b'{"marker": true}', qos=1)
    assert wait_for(lambda: {"marker": True} in other_term.got, 5)
    before_marker = other_term.got[: other_term.got.index({"marker": True})]
    assert not [s for state in before_marker for s in state.get("stops", []) if rid in s["request_ids"]]  # type: ignore[attr-defined]
    assert wait_for(
        lambda: p.query("SELECT status, bus_id FROM bell_requests WHERE request_id = %s", rid)
        == [("assigned", bus)],
        5,
    )


def test_request_reaches_the_right_driver_then_a_pass_is_caught(platform: Platform, bell) -> None:  # type: ignore[no-untyped-def]
    _service, net = bell
    route = next(r for r in platform.city.routes if not r.loop)
    rd = net.for_route(route.route_id)[0]
    stop = rd.stops[2]  # the third stop of direction 0
    frac = rd.stop_along[stop] / rd.path.length_m
    near, far = f"bus-{route.route_id[1:].zfill(2)}01", f"bus-{route.route_id[1:].zfill(2)}02"
    panel = f"stop-{stop[3:]}"
    pub = Publisher(host="127.0.0.1", port=platform.broker.port, secret=SECRET, mode="gateway")
    pub.open([])
    term_near = Listener(platform, near, bus_downlink(near, "#"))
    term_far = Listener(platform, far, bus_downlink(far, "#"))
    replies = Listener(platform, panel, stop_reply(panel))
    send_positions(pub, near, route.route_id, positions(net, route.route_id, frac - 0.2, frac - 0.15, 4))
    send_positions(pub, far, route.route_id, positions(net, route.route_id, 0.0, 0.02, 4))
    time.sleep(0.3)
    t0 = time.monotonic()
    rid = request(pub, panel, stop, route.route_id, n=2)
    assert wait_for(lambda: term_near.last() is not None and term_near.last()["stops"], 5)  # type: ignore[index]
    latency = time.monotonic() - t0
    shown = term_near.last()["stops"][0]  # type: ignore[index]
    assert (shown["stop_id"], shown["passengers"], shown["request_ids"]) == (stop, 2, [rid])
    assert latency < 1.0
    assert wait_for(lambda: replies.last() is not None, 5)
    assert replies.last()["status"] == "assigned" and replies.last()["bus_id"] == near  # type: ignore[index]
    # the near bus drives past without stopping
    send_positions(pub, near, route.route_id, positions(net, route.route_id, frac - 0.1, frac + 0.1, 8))
    assert wait_for(
        lambda: platform.count("SELECT count(*) FROM alerts WHERE rule = 'bus.no_stop_pass'") == 1, 5
    )
    assert wait_for(lambda: term_far.last() is not None and term_far.last()["stops"], 5)  # type: ignore[index]
    assert term_near.last()["stops"] == []  # type: ignore[index]
    assert wait_for(
        lambda: platform.query("SELECT served, request_ids FROM bell_passes WHERE stop_id = %s", stop)
        == [(False, [rid])],
        5,
    )
    assert wait_for(
        lambda: platform.query("SELECT status, bus_id FROM bell_requests WHERE request_id = %s", rid)
        == [("assigned", far)],
        5,
    )
    # a terminal that reconnects gets its current state at once (retained)
    again = Listener(platform, far, bus_downlink(far, "#"))
    assert wait_for(lambda: again.last() is not None, 5)
    assert again.last()["stops"][0]["stop_id"] == stop  # type: ignore[index]
    for listener in (term_near, term_far, replies, again):
        listener.close()
    pub.close()


def test_rejected_request_is_answered_with_a_reason(platform: Platform, bell) -> None:  # type: ignore[no-untyped-def]
    route = platform.city.routes[0]
    other = next(s for s in platform.city.stops if s not in route.stops)
    pub = Publisher(host="127.0.0.1", port=platform.broker.port, secret=SECRET, mode="gateway")
    pub.open([])
    replies = Listener(platform, "app-gateway", stop_reply("app-gateway"))
    rid = request(pub, "app-gateway", other, route.route_id)
    assert wait_for(lambda: replies.last() is not None, 5)
    assert replies.last()["status"] == "rejected" and "does not serve" in replies.last()["reason"]  # type: ignore[index,operator]
    assert wait_for(
        lambda: platform.query("SELECT status FROM bell_requests WHERE request_id = %s", rid)
        == [("rejected",)],
        5,
    )
    replies.close()
    pub.close()


def test_requests_merge_and_a_cancel_updates_the_terminal(platform: Platform, bell) -> None:  # type: ignore[no-untyped-def]
    _service, net = bell
    route = next(r for r in platform.city.routes if not r.loop)
    rd = net.for_route(route.route_id)[0]
    stop = rd.stops[2]
    frac = rd.stop_along[stop] / rd.path.length_m
    bus = f"bus-{route.route_id[1:].zfill(2)}01"
    pub = Publisher(host="127.0.0.1", port=platform.broker.port, secret=SECRET, mode="gateway")
    pub.open([])
    term = Listener(platform, bus, bus_downlink(bus, "#"))
    send_positions(pub, bus, route.route_id, positions(net, route.route_id, frac - 0.2, frac - 0.15, 4))
    time.sleep(0.3)
    first = request(pub, "app-gateway", stop, route.route_id, n=2)
    second = request(pub, f"stop-{stop[3:]}", stop, route.route_id, n=1)

    def shown() -> tuple[int, list[str]] | None:
        last = term.last()
        stops = last["stops"] if last else []  # type: ignore[index]
        return (stops[0]["passengers"], sorted(stops[0]["request_ids"])) if stops else None  # type: ignore[index]

    assert wait_for(lambda: shown() == (3, sorted([first, second])), 5), shown()
    cancel = m.StopRequest(
        device_id="app-gateway",
        ts=datetime.now(UTC),
        seq=1,
        request_id=first,
        stop_id=stop,
        route_id=route.route_id,
        passengers=2,
        source="app",
        action="cancel",
    )
    pub.send_raw(topic_for(DeviceKind.STOP, "app-gateway"), m.to_json(cancel))
    assert wait_for(lambda: shown() == (1, [second]), 5), shown()
    assert wait_for(
        lambda: platform.query("SELECT status FROM bell_requests WHERE request_id = %s", first)
        == [("cancelled",)],
        5,
    )
    term.close()
    pub.close()


class Waiting:
    """A passenger's request at the second stop of route 0, with no bus in service, its panel listening."""

    def __init__(self, platform: Platform) -> None:
        self.route = platform.city.routes[0]
        panel = f"stop-{self.route.stops[1][3:]}"
        self.pub = Publisher(host="127.0.0.1", port=platform.broker.port, secret=SECRET, mode="gateway")
        self.pub.open([])
        self.replies = Listener(platform, panel, stop_reply(panel))
        self.rid = request(self.pub, panel, self.route.stops[1], self.route.route_id)
        self.platform = platform

    def statuses(self) -> list[object]:
        return [r["status"] for r in self.replies.got]

    def recorded(self, status: str) -> bool:
        return wait_for(
            lambda: self.platform.query("SELECT status FROM bell_requests WHERE request_id = %s", self.rid)
            == [(status,)],
            5,
        )

    def close(self) -> None:
        self.replies.close()
        self.pub.close()


def test_a_request_nobody_serves_expires(platform: Platform, tmp_path: Path) -> None:
    service, t, _net = start_bell(platform, tmp_path, request_ttl_s=2.0)
    waiting = Waiting(platform)
    assert wait_for(lambda: waiting.statuses() == ["no_bus", "expired"], 10), waiting.replies.got
    assert waiting.recorded("expired")
    waiting.close()
    service.stop()
    t.join(10)


def test_on_a_loop_route_the_bus_just_past_the_stop_is_not_the_one_told(
    db_url: str, mosquitto, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """On a loop, "upstream" wraps around: a bus that has just left the stop would need a whole lap, so
    the bus further back on the path (but nearer around the loop) is told."""
    scale = Scale(
        stations=1, lots=1, spaces_per_lot=1, cameras=1, routes=3, stops_per_route=5, buses_per_route=2
    )
    p = city_platform(db_url, mosquitto, scale)
    route = next(r for r in p.city.routes if r.loop)
    service, t, net = start_bell(p, tmp_path)
    try:
        rd = net.for_route(route.route_id)[0]
        assert rd.loop
        stop = rd.stops[1]
        frac = rd.stop_along[stop] / rd.path.length_m
        n = route.route_id[1:].zfill(2)
        just_past, around = f"bus-{n}01", f"bus-{n}02"
        pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
        pub.open([])
        term_past = Listener(p, just_past, bus_downlink(just_past, "#"))
        term_around = Listener(p, around, bus_downlink(around, "#"))
        send_positions(
            pub, just_past, route.route_id, positions(net, route.route_id, frac + 0.02, frac + 0.06, 4)
        )
        send_positions(pub, around, route.route_id, positions(net, route.route_id, 0.80, 0.84, 4))
        time.sleep(0.3)
        only_this_one_is_told(
            p, service, pub, stop, route.route_id, (around, term_around), (just_past, term_past)
        )
        for listener in (term_past, term_around):
            listener.close()
        pub.close()
    finally:
        service.stop()
        t.join(10)


def test_a_bus_standing_at_the_terminal_is_told_for_the_way_back(platform: Platform, bell) -> None:  # type: ignore[no-untyped-def]
    """A bus that reached the end of the line has passed the stops behind it in this direction, but it
    turns round: for a stop just before the terminal it is the nearest bus (via the terminal)."""
    _service, net = bell
    route = next(r for r in platform.city.routes if not r.loop)
    rd = net.for_route(route.route_id)[0]
    stop = rd.stops[-2]  # one stop before the terminal of direction 0
    n = route.route_id[1:].zfill(2)
    standing, far = f"bus-{n}01", f"bus-{n}02"
    pub = Publisher(host="127.0.0.1", port=platform.broker.port, secret=SECRET, mode="gateway")
    pub.open([])
    term_standing = Listener(platform, standing, bus_downlink(standing, "#"))
    term_far = Listener(platform, far, bus_downlink(far, "#"))
    send_positions(pub, standing, route.route_id, positions(net, route.route_id, 0.999, 1.0, 4), speed=0.0)
    send_positions(pub, far, route.route_id, positions(net, route.route_id, 0.02, 0.05, 4))
    time.sleep(0.3)
    only_this_one_is_told(
        platform, _service, pub, stop, route.route_id, (standing, term_standing), (far, term_far)
    )
    for listener in (term_standing, term_far):
        listener.close()
    pub.close()


def test_the_bell_keeps_telling_drivers_while_its_tables_are_locked(platform: Platform, bell) -> None:  # type: ignore[no-untyped-def]
    """Records are written behind the bell, not in front of it: with its tables locked by another session
    (a slow or stuck database), the driver is still told at once; the records land when the lock goes."""
    service, net = bell
    route = next(r for r in platform.city.routes if not r.loop)
    rd = net.for_route(route.route_id)[0]
    stop = rd.stops[2]
    frac = rd.stop_along[stop] / rd.path.length_m
    bus = f"bus-{route.route_id[1:].zfill(2)}01"
    pub = Publisher(host="127.0.0.1", port=platform.broker.port, secret=SECRET, mode="gateway")
    pub.open([])
    term = Listener(platform, bus, bus_downlink(bus, "#"))
    send_positions(pub, bus, route.route_id, positions(net, route.route_id, frac - 0.2, frac - 0.15, 4))
    assert wait_for(lambda: service.flush(1.0), 5)
    locker = psycopg.connect(platform.db_url)
    locker.execute("LOCK TABLE bell_requests IN ACCESS EXCLUSIVE MODE")
    try:
        rid = request(pub, f"stop-{stop[3:]}", stop, route.route_id, n=3)
        assert wait_for(lambda: term.last() is not None and term.last()["stops"], 5)  # type: ignore[index]
        assert term.last()["stops"][0]["request_ids"] == [rid]  # type: ignore[index]
        time.sleep(0.5)
        assert not service.flush(0.1)  # the record waits for the lock …
    finally:
        locker.rollback()
        locker.close()
    assert service.flush(10)  # … and lands when it goes
    assert platform.query(
        "SELECT status, bus_id, passengers FROM bell_requests WHERE request_id = %s", rid
    ) == [("assigned", bus, 3)]
    term.close()
    pub.close()


def test_without_a_feed_the_bell_says_so_and_starts_when_the_feed_arrives(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    feed = tmp_path / "gtfs.zip"
    stop = threading.Event()
    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(wait_for_feed(feed, stop, every_s=0.05)))
    with caplog.at_level(logging.INFO, logger="boarding.service"):
        waiter.start()
        assert wait_for(lambda: any("no GTFS feed at" in r.message for r in caplog.records), 5)
        assert waiter.is_alive()  # waiting, not crashed
        write_feed(build_city(3, SMALL), feed)
        waiter.join(5)
    assert result == [True]
    assert [r.message for r in caplog.records if "GTFS feed" in r.message][-1] == f"GTFS feed found at {feed}"
    assert sum("no GTFS feed at" in r.message for r in caplog.records) == 1  # said once, not every look


def test_a_bell_waiting_for_its_feed_stops_when_asked(tmp_path: Path) -> None:
    stop = threading.Event()
    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(wait_for_feed(tmp_path / "absent.zip", stop, 30)))
    waiter.start()
    stop.set()
    waiter.join(5)
    assert result == [False]


def test_a_feed_uploaded_while_the_bell_runs_is_taken_up_and_its_dropped_stops_told(
    platform: Platform, tmp_path: Path
) -> None:
    """The bell runs on its feed file; the agency's new feed, without route 0, is uploaded (a row of
    transit_feeds, as PUT /api/v1/transit/feed writes it): the bell takes it up by itself, and the
    passenger waiting for route 0 hears why the request ended."""
    import dataclasses
    import hashlib
    import io
    import zipfile

    from simulators.gtfs import feed_files

    service, t, _net = start_bell(platform, tmp_path, feed_check_s=0.2)
    assert service.feed_id is None  # on the file
    waiting = Waiting(platform)
    assert wait_for(lambda: waiting.statuses() == ["no_bus"], 10), waiting.replies.got
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in feed_files(
            dataclasses.replace(platform.city, routes=platform.city.routes[1:])
        ).items():
            z.writestr(name, text)
    with psycopg.connect(platform.db_url, autocommit=True) as conn:
        (fid,) = conn.execute(
            "INSERT INTO transit_feeds (sha256, feed, routes, stops, directions, uploaded_by)"
            " VALUES (%s, %s, 0, 0, 0, 'test') RETURNING id",
            (hashlib.sha256(buf.getvalue()).hexdigest(), buf.getvalue()),
        ).fetchone()
    assert wait_for(lambda: service.feed_id == fid, 10)
    assert wait_for(lambda: waiting.statuses() == ["no_bus", "rejected"], 10), waiting.replies.got
    told = waiting.replies.got[-1]
    assert "no longer serves" in str(told["reason"]) and told["request_id"] == waiting.rid
    assert waiting.route.route_id not in service.bell.net.routes
    assert waiting.recorded("rejected")
    waiting.close()
    service.stop()
    t.join(10)
