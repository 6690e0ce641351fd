"""The boarding bell's decisions, driven message by message (no broker, no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from boarding.engine import Bell, ControlAlert, DriverState, PassRecord, Reply, RequestStatus
from boarding.gtfs import parse
from citywatch.contracts import messages as m
from tests.support import LAT, feed, lon

T0 = 1_790_000_000.0


def ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def req(
    rid: str,
    stop: str = "s3",
    route: str = "r1",
    n: int = 1,
    wheelchair: bool = False,
    action: str = "request",
    t: float = T0,
) -> m.StopRequest:
    return m.StopRequest(
        device_id="stop-3",
        ts=ts(t),
        seq=0,
        request_id=f"{rid}-request",
        stop_id=stop,
        route_id=route,
        passengers=n,
        source="button",
        wheelchair=wheelchair,
        action=action,
    )  # type: ignore[arg-type]


def pos(bus: str, x: float, t: float, speed: float = 30.0, door: bool = False) -> m.BusPosition:
    return m.BusPosition(
        device_id=bus,
        ts=ts(t),
        seq=0,
        route_id="r1",
        lat=LAT,
        lon=lon(x),
        speed_kmh=speed,
        heading_deg=90.0,
        door_open=door,
    )


def drive(bell: Bell, bus: str, xs: list[float], t0: float, **kw: object) -> list[object]:
    out: list[object] = []
    for i, x in enumerate(xs):
        out += bell.on_position(pos(bus, x, t0 + 5 * i, **kw), t0 + 5 * i)  # type: ignore[arg-type]
    return out


def terminal(effects: list[object], bus: str) -> list[tuple[str, int]] | None:
    states = [e for e in effects if isinstance(e, DriverState) and e.bus_id == bus]
    return [(s.stop_id, s.passengers) for s in states[-1].alert.stops] if states else None


def replies(effects: list[object]) -> list[tuple[str, str]]:
    return [
        (e.reply.request_id.removesuffix("-request"), e.reply.status) for e in effects if isinstance(e, Reply)
    ]


@pytest.fixture
def bell() -> Bell:
    b = Bell(parse(feed()))
    drive(b, "near", [1.8, 1.85, 1.9], T0 - 20)  # eastbound, approaching s3
    drive(b, "far", [0.0, 0.05, 0.1], T0 - 20)  # eastbound, further back
    return b


def test_request_goes_to_the_nearest_upstream_bus(bell: Bell) -> None:
    out = bell.on_request(req("a", n=2), T0)
    assert terminal(out, "near") == [("s3", 2)]
    assert terminal(out, "far") is None
    assert replies(out) == [("a", "assigned")]
    reply = next(e.reply for e in out if isinstance(e, Reply))
    assert reply.bus_id == "near" and reply.eta_s and reply.eta_s > 0


def test_requests_merge_and_cancel(bell: Bell) -> None:
    bell.on_request(req("a", n=2), T0)
    out = bell.on_request(req("b", n=1, wheelchair=True), T0 + 1)
    assert terminal(out, "near") == [("s3", 3)]
    assert next(e for e in out if isinstance(e, DriverState)).alert.stops[0].wheelchair
    assert bell.on_request(req("b", n=1), T0 + 2) == []  # a redelivery changes nothing
    out = bell.on_request(req("a", action="cancel"), T0 + 3)
    assert terminal(out, "near") == [("s3", 1)]
    out = bell.on_request(req("b", action="cancel"), T0 + 4)
    assert terminal(out, "near") == []  # the terminal is cleared


@pytest.mark.parametrize(
    ("stop", "route", "why"), [("s9", "r1", "unknown stop"), ("s3", "r9", "unknown route")]
)
def test_rejects_with_a_reason(bell: Bell, stop: str, route: str, why: str) -> None:
    out = bell.on_request(req("x", stop=stop, route=route), T0)
    assert replies(out) == [("x", "rejected")]
    assert why in (next(e for e in out if isinstance(e, Reply)).reply.reason or "")


def test_no_bus_then_a_bus_appears() -> None:
    b = Bell(parse(feed()))
    out = b.on_request(req("a"), T0)
    assert replies(out) == [("a", "no_bus")]
    drive(b, "late", [0.5, 0.55, 0.6], T0 + 10)
    out = b.tick(T0 + 30)
    assert replies(out) == [("a", "assigned")] and terminal(out, "late") == [("s3", 1)]


def test_served_stop_fulfils_and_clears(bell: Bell) -> None:
    bell.on_request(req("a"), T0)
    out = drive(bell, "near", [2.5, 2.95, 3.0, 3.0, 3.05, 3.5], T0 + 5, speed=0.0, door=True)
    passes = [e for e in out if isinstance(e, PassRecord) and e.stop_id == "s3"]
    assert passes and passes[0].served and passes[0].request_ids == ("a-request",)
    assert ("a", "fulfilled") in replies(out)
    assert terminal(out, "near") == []


def test_no_stop_pass_is_reported_and_the_next_bus_is_told(bell: Bell) -> None:
    bell.on_request(req("a", n=2), T0)
    out = drive(bell, "near", [2.5, 2.9, 3.2, 3.5], T0 + 5)  # drives straight through at 30 km/h
    passes = [e for e in out if isinstance(e, PassRecord) and e.stop_id == "s3"]
    assert passes and not passes[0].served
    alerts = [e for e in out if isinstance(e, ControlAlert)]
    assert [a.rule for a in alerts] == ["bus.no_stop_pass"] and alerts[0].details["bus_id"] == "near"
    assert ("a", "retargeted") in replies(out)
    assert terminal(out, "far") == [("s3", 2)]
    assert terminal(out, "near") == []


def test_a_late_fix_does_not_move_the_bus_back(bell: Bell) -> None:
    """MQTT keeps order per connection only; a fix that arrives after a newer one is ignored, so a bus
    that drove through is still caught, and a late fix from before the stop does not make it pass twice."""
    bell.on_request(req("a", n=2), T0)
    out = drive(bell, "near", [2.5, 2.9], T0 + 5)
    out += bell.on_position(pos("near", 3.2, T0 + 20), T0 + 20)  # through the stop …
    out += bell.on_position(pos("near", 2.4, T0 + 1), T0 + 21)  # … and an old fix, late
    assert bell.buses["near"].placement.direction == 0  # type: ignore[union-attr]  # still eastbound
    out += bell.on_position(pos("near", 3.4, T0 + 25), T0 + 25)
    passes = [e for e in out if isinstance(e, PassRecord) and e.stop_id == "s3"]
    assert [p.served for p in passes] == [False]
    assert [f.t for f in bell.buses["near"].fixes][-3:] == [T0 + 10, T0 + 20, T0 + 25]


def test_acknowledged_alert_is_not_resent_or_escalated(bell: Bell) -> None:
    bell.on_request(req("a"), T0)
    out = bell.on_ack(m.DriverAck(device_id="near", ts=ts(T0 + 3), seq=0, stop_id="s3"), T0 + 3)
    assert next(e for e in out if isinstance(e, DriverState)).alert.stops[0].acknowledged
    assert bell.tick(T0 + 100) == []


def test_unacknowledged_alert_is_resent_then_escalated(bell: Bell) -> None:
    bell.on_request(req("a"), T0)
    assert [type(e) for e in bell.tick(T0 + 10)] == []
    assert [type(e) for e in bell.tick(T0 + 21)] == [DriverState]  # sent again
    out = bell.tick(T0 + 61)
    assert [a.rule for a in out if isinstance(a, ControlAlert)] == ["bus.unacknowledged"]
    assert [a.rule for a in bell.tick(T0 + 62) if isinstance(a, ControlAlert)] == []  # once


def test_requests_expire(bell: Bell) -> None:
    bell.on_request(req("a"), T0)
    out = bell.tick(T0 + 1800)
    assert [(e.request_id, e.status) for e in out if isinstance(e, RequestStatus)] == [
        ("a-request", "expired")
    ]
    assert terminal(out, "near") == []


def test_a_request_at_the_terminal_is_served_when_the_bus_turns_there() -> None:
    b = Bell(parse(feed()))
    drive(b, "t", [3.5, 3.6, 3.7], T0 - 20)  # eastbound towards the terminal s4
    b.on_request(req("a", stop="s4"), T0)
    out = drive(b, "t", [3.85, 4.0, 4.0, 4.0, 4.0], T0 + 5, speed=0.0, door=True)  # arrives, dwells at s4
    out += drive(b, "t", [3.95, 3.9, 3.8, 3.7, 3.6], T0 + 40)  # and leaves westbound
    assert not [e for e in out if isinstance(e, ControlAlert)]
    assert ("a", "fulfilled") in replies(out)


def _shortened() -> dict[str, str]:
    """The same road, its route now turning back at s2: s3 and s4 are no longer served."""
    f = feed()
    f["stop_times.txt"] = (
        "trip_id,stop_id,stop_sequence\n"
        + "".join(f"t0,s{i},{i + 1}\n" for i in range(3))
        + "".join(f"t1,s{2 - i},{i + 1}\n" for i in range(3))
    )
    return f


def test_a_new_feed_rejects_the_requests_at_stops_it_no_longer_serves_and_tells_the_driver(
    bell: Bell,
) -> None:
    """The agency shortens route 1: the passenger waiting at s3 is told why, the terminal of the bus that
    was coming for them drops the stop; the one waiting at s1 keeps waiting and is served as before."""
    bell.on_request(req("a", n=2), T0)  # at s3, the "near" bus assigned
    drive(bell, "far", [0.15], T0)
    bell.on_request(req("b", stop="s1"), T0 + 1)
    out = bell.replace_network(parse(_shortened()), T0 + 2)
    assert replies(out) == [("a", "rejected")]
    reason = next(e for e in out if isinstance(e, Reply)).reply.reason or ""
    assert "no longer serves stop s3" in reason and "transit feed changed" in reason
    assert [e.status for e in out if isinstance(e, RequestStatus)] == ["rejected"]
    assert terminal(out, "near") == []
    assert set(bell.waiting) == {("s1", "r1")}
    # the buses are placed afresh on the new route from their next fixes, and s1's passenger still rides
    drive(bell, "far", [0.2, 0.25, 0.3], T0 + 5)
    assert terminal(bell.tick(T0 + 30), "far") == [("s1", 1)]
    served = drive(bell, "far", [0.9, 0.97, 1.0, 1.0, 1.05], T0 + 40, speed=0.0, door=True)
    assert replies(served) == [("b", "fulfilled")]
