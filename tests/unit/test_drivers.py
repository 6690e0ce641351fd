"""Simulated drivers: they stop where their terminal says passengers wait, or pass anyway (labelled)."""

from __future__ import annotations

import orjson

from citywatch.contracts.topics import DeviceKind
from simulators.city import Scale, build_city
from simulators.drivers import DriverDesk, labels
from simulators.engine import simulate

START = 1_790_000_000.0


def test_desk_tracks_what_each_terminal_shows() -> None:
    desk = DriverDesk(pass_rate=0.0)
    assert desk.show("b1", {"s1": ("r1",), "s2": ("r2",)}) == {"s1", "s2"}
    assert desk.show("b1", {"s2": ("r2", "r4"), "s3": ("r3",)}) == {"s3"}
    assert desk.requested("b1", "s2") and not desk.requested("b1", "s1") and not desk.requested("b2", "s2")
    desk.pass_rate = 1.0
    assert desk.decide_pass("b1", "s2", 100.0)
    assert desk.passes[0]["request_ids"] == ["r2", "r4"]  # the label says which requests the driver ignored


def run(pass_rate: float) -> tuple[DriverDesk, list[dict[str, object]]]:
    city = build_city(
        2,
        Scale(
            stations=0, lots=0, spaces_per_lot=0, cameras=0, routes=1, stops_per_route=6, buses_per_route=1
        ),
    )
    bus = city.of_kind(DeviceKind.BUS)[0].device_id
    desk = DriverDesk(pass_rate=pass_rate, seed=3)
    desk.show(bus, {s: (f"r-{s}",) for s in city.routes[0].stops})  # passengers wait everywhere
    positions = [
        orjson.loads(o.payload)
        for o in simulate(city, START, START + 3600, seed=2, desk=desk)
        if o.device_id == bus
    ]
    return desk, positions


def test_drivers_stop_where_passengers_wait() -> None:
    desk, positions = run(0.0)
    assert desk.stops_made and not desk.passes
    dwells = sum(1 for p in positions if p["door_open"] and p["speed_kmh"] == 0)
    assert dwells >= 3 * len(desk.stops_made)  # 15-30 s at every stop, a fix every 5 s


def test_some_drivers_pass_anyway_and_it_is_written_down() -> None:
    desk, _ = run(1.0)
    assert desk.passes and not desk.stops_made
    assert {orjson.loads(line)["type"] for line in labels(desk)} == {"no_stop_pass"}
