"""The bell against simulated drivers, in simulated time (pure: no broker, no database): a city's buses
drive their routes, passengers ask at random stops, each driver sees what the bell tells their terminal
and passes anyway now and then (labelled). Every labelled pass must be reported, and nothing else."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from boarding.engine import Bell, DriverState, Effect, PassRecord
from boarding.gtfs import load
from citywatch.contracts import messages as m
from citywatch.contracts.topics import DeviceKind
from simulators.city import Scale, build_city
from simulators.drivers import DriverDesk
from simulators.engine import simulate
from simulators.gtfs import write_feed

START = 1_790_000_000.0


def replay(
    tmp_path: Path, seed: int, hours: float
) -> tuple[list[dict[str, object]], list[tuple[str, str, float]], dict[str, float]]:
    city = build_city(
        seed,
        Scale(
            stations=0, lots=0, spaces_per_lot=0, cameras=0, routes=6, stops_per_route=12, buses_per_route=4
        ),
    )
    bell = Bell(load(write_feed(city, tmp_path / "gtfs.zip")))
    desk = DriverDesk(pass_rate=0.25, seed=seed)
    pairs = [(s, r.route_id) for r in city.routes for s in r.stops]
    rng = random.Random(seed)
    found: list[tuple[str, str, float]] = []
    cancelled: dict[str, float] = {}

    def apply(effects: list[Effect]) -> None:
        for e in effects:
            if isinstance(e, DriverState):
                desk.show(e.bus_id, {s.stop_id: tuple(s.request_ids) for s in e.alert.stops})
            elif isinstance(e, PassRecord) and not e.served:
                found.append((e.bus_id, e.stop_id, e.at))

    next_request, next_tick = START + 30, START
    for o in simulate(city, START, START + hours * 3600, seed=seed, desk=desk):
        while next_request <= o.t:  # passengers in an app, besides the stops' own panels
            stop, route = rng.choice(pairs)
            r = m.StopRequest(
                device_id="app-gateway",
                ts=datetime.fromtimestamp(next_request, UTC),
                seq=0,
                request_id=uuid.UUID(int=rng.getrandbits(128)).hex[:16],
                stop_id=stop,
                route_id=route,
                passengers=1,
                source="app",
            )
            apply(bell.on_request(r, next_request))
            next_request += rng.expovariate(1 / 20)
        if o.t >= next_tick:
            apply(bell.tick(o.t))
            next_tick = o.t + 1.0
        if o.kind is DeviceKind.BUS:
            apply(bell.on_position(m.BusPosition.model_validate_json(o.payload), o.t))
        elif o.kind is DeviceKind.STOP:
            r = m.StopRequest.model_validate_json(o.payload)
            if r.action == "cancel":
                cancelled[r.request_id] = o.t
            apply(bell.on_request(r, o.t))
    return desk.passes, found, cancelled


@pytest.mark.parametrize("seed", [3, 11])
def test_every_labelled_pass_is_reported_and_nothing_else(tmp_path: Path, seed: int) -> None:
    hours = 1.0
    labels, found, cancelled = replay(tmp_path, seed, hours)

    def same(lb: dict[str, object], f: tuple[str, str, float]) -> bool:
        return lb["bus_id"] == f[0] and lb["stop_id"] == f[1] and abs(float(lb["t"]) - f[2]) <= 60  # type: ignore[arg-type]

    def withdrawn(lb: dict[str, object]) -> bool:  # every passenger cancelled before the bus had gone by
        rids = lb["request_ids"]
        return bool(rids) and all(r in cancelled and cancelled[r] <= float(lb["t"]) + 10 for r in rids)  # type: ignore[union-attr, arg-type]

    horizon = START + hours * 3600 - 120  # a pass decided at the very end may not have been driven yet
    scored = [lb for lb in labels if float(lb["t"]) <= horizon and not withdrawn(lb)]  # type: ignore[arg-type]
    assert len(scored) >= 30  # enough passes to mean something
    missed = [lb for lb in scored if not any(same(lb, f) for f in found)]
    unlabelled = [f for f in found if not any(same(lb, f) for lb in labels)]
    assert missed == [] and unlabelled == []
