"""Boarding bell, pure parts: GTFS import with clear errors, projection onto a
path, and which bus is told to stop — straight, loop and terminal cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from boarding.geometry import Path as Route
from boarding.geometry import distance_m
from boarding.gtfs import GtfsError, content_digest, load, parse
from boarding.matching import Fix, candidates, choose, place
from simulators.city import Scale, build_city
from simulators.gtfs import feed_files, write_feed
from tests.support import LAT, feed, lon


def fixes(points: list[float], speed: float = 30.0, lat: float = LAT) -> list[Fix]:
    return [Fix(float(i * 5), (lat, lon(p)), speed) for i, p in enumerate(points)]


def test_projection_onto_a_path() -> None:
    r = Route(((LAT, lon(0)), (LAT, lon(1)), (LAT, lon(2))))
    seg = distance_m((LAT, lon(0)), (LAT, lon(1)))
    p = r.project((LAT + 0.0005, lon(1.5)))  # ~55 m north of the road, half way along the second segment
    assert p.along_m == pytest.approx(1.5 * seg, rel=1e-3)
    assert p.offset_m == pytest.approx(55.6, abs=1)
    assert r.length_m == pytest.approx(2 * seg, rel=1e-6)


def test_gtfs_import_orders_stops_and_measures_them() -> None:
    net = parse(feed())
    d0, d1 = net.for_route("r1")
    assert d0.stops == ("s0", "s1", "s2", "s3", "s4") and d1.stops == ("s4", "s3", "s2", "s1", "s0")
    assert d0.stop_along["s0"] == 0 and d0.stop_along["s4"] == pytest.approx(d0.path.length_m)
    assert d1.stop_along["s4"] == 0
    assert net.serving("s2") == {"r1"}


def test_loop_routes_are_recognised() -> None:
    (d,) = parse(feed(loop=True)).for_route("r1")
    assert d.loop and d.stops == ("s0", "s1", "s2", "s3")
    # each stop where the trip reaches it, however long the leg (s1 -> s2 is 1.1 km): in travel order
    assert [d.stop_along[s] for s in d.stops] == pytest.approx(d.path.cumulative[:4])


BAD = [
    ("missing-file", lambda f: f.pop("stops.txt"), "stops.txt"),
    ("missing-column", lambda f: f.__setitem__("stops.txt", "stop_id,stop_name\nx,y\n"), "stops.txt"),
    (
        "bad-number",
        lambda f: f.__setitem__("stops.txt", f["stops.txt"].replace(f"{LAT},{lon(2)}", f"north,{lon(2)}")),
        "stops.txt:4",
    ),
    (
        "bad-latitude",
        lambda f: f.__setitem__("stops.txt", f["stops.txt"].replace(f"{LAT},{lon(2)}", f"137,{lon(2)}")),
        "stops.txt:4",
    ),
    (
        "unknown-stop",
        lambda f: f.__setitem__("stop_times.txt", f["stop_times.txt"] + "t0,s9,9\n"),
        "stop_times.txt:12",
    ),
    (
        "unknown-trip",
        lambda f: f.__setitem__("stop_times.txt", f["stop_times.txt"] + "t9,s1,9\n"),
        "stop_times.txt:12",
    ),
    ("unknown-route", lambda f: f.__setitem__("trips.txt", f["trips.txt"] + "r9,d,t2,0\n"), "trips.txt:4"),
    (
        "bad-direction",
        lambda f: f.__setitem__("trips.txt", f["trips.txt"].replace("t1,1", "t1,2")),
        "trips.txt:3",
    ),
]


@pytest.mark.parametrize(("mutate", "where"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_malformed_feeds_say_where(mutate, where: str) -> None:  # type: ignore[no-untyped-def]
    f = feed()
    mutate(f)
    with pytest.raises(GtfsError) as e:
        parse(f)
    assert f"GTFS {where}" in str(e.value)


def test_simulated_city_writes_a_feed_that_imports(tmp_path: Path) -> None:
    city = build_city(1, Scale())
    net = load(write_feed(city, tmp_path / "gtfs.zip"))
    assert set(net.routes) == {r.route_id for r in city.routes}
    assert set(net.stops) == set(city.stops)
    loop = next(r for r in city.routes if r.loop)
    assert [d.loop for d in net.for_route(loop.route_id)] == [True]
    assert parse(feed_files(city)).directions.keys() == net.directions.keys()
    junk = tmp_path / "junk.zip"
    junk.write_text("not a feed")
    with pytest.raises(GtfsError, match="not a zip"):
        load(junk)


def test_a_feed_is_known_by_what_its_files_say() -> None:
    """The digest that tells a re-upload of a feed from a new one: the same files give the same digest in
    any order; a changed text, a renamed file, or text moved from one file to the next gives another."""
    files = feed_files(build_city(1, Scale()))
    same = content_digest(dict(reversed(files.items())))
    assert content_digest(files) == same
    stops = files["stops.txt"]
    others = [
        files | {"stops.txt": stops.replace(",", ";", 1)},
        {("halts.txt" if k == "stops.txt" else k): v for k, v in files.items()},
        files | {"routes.txt": files["routes.txt"] + stops[:1], "stops.txt": stops[1:]},
    ]
    assert len({same, *map(content_digest, others)}) == 4


def test_the_nearest_upstream_bus_is_chosen_on_a_straight_road() -> None:
    dirs = parse(feed()).for_route("r1")
    buses = [
        place("far", fixes([0.0, 0.05, 0.1]), dirs),  # eastbound, 3 stops before s3
        place("near", fixes([1.8, 1.85, 1.9]), dirs),  # eastbound, just over a stop before s3
        place("passed", fixes([3.2, 3.25, 3.3]), dirs),
    ]  # eastbound, already past s3
    got = choose("s3", [b for b in buses if b], dirs)
    assert got is not None and got.bus_id == "near" and not got.via_terminal
    assert got.distance_m == pytest.approx(distance_m((LAT, lon(1.9)), (LAT, lon(3))), rel=0.01)
    assert got.eta_s == pytest.approx(got.distance_m / (30 / 3.6), rel=0.01)
    found = candidates("s3", [b for b in buses if b], dirs)
    # the bus that passed reaches s3 again only after turning at s4 (stops serve both directions here)
    assert [(c.bus_id, c.via_terminal) for c in found] == [("near", False), ("passed", True), ("far", False)]


def test_gps_jitter_just_past_the_stop_still_counts_as_at_it() -> None:
    dirs = parse(feed()).for_route("r1")
    p = place("b", fixes([2.9, 2.95, 3.0002]), dirs)  # ~18 m past s3
    assert p is not None
    got = choose("s3", [p], dirs)
    assert got is not None and got.distance_m == 0 and not got.via_terminal


def test_a_bus_running_the_other_way_comes_via_the_terminal() -> None:
    dirs = parse(feed()).for_route("r1")
    west = place("w", fixes([3.5, 3.45, 3.4]), dirs)  # westbound between s4 and s3
    assert west is not None and west.direction == 1
    got = choose("s4", [west], dirs)  # s4 is behind it: it must reach s0, turn, and come back
    assert got is not None and got.via_terminal
    assert got.distance_m == pytest.approx(
        distance_m((LAT, lon(3.4)), (LAT, lon(0))) + distance_m((LAT, lon(0)), (LAT, lon(4))), rel=0.01
    )


def test_a_bus_standing_at_the_terminal_serves_the_next_direction() -> None:
    dirs = parse(feed()).for_route("r1")
    standing = place("t", fixes([4.0, 4.0, 4.0], speed=0.0), dirs)
    assert standing is not None and standing.at_terminal
    got = choose("s2", [standing], dirs)
    assert got is not None and got.via_terminal
    assert got.distance_m == pytest.approx(distance_m((LAT, lon(4)), (LAT, lon(2))), rel=0.02)
    assert got.eta_s == pytest.approx(got.distance_m / 3.0, rel=0.01)  # standing still: the minimum speed


def test_on_a_loop_a_bus_just_past_the_stop_comes_round_again() -> None:
    (d,) = parse(feed(loop=True)).for_route("r1")
    # moving east along the first side, past s0 by ~0.2 of a side
    p = place("l", fixes([0.1, 0.15, 0.2]), [d])
    assert p is not None
    got = choose("s0", [p], [d])
    assert got is not None and got.distance_m == pytest.approx(d.path.length_m - p.along_m, rel=0.01)
    ahead = choose("s1", [p], [d])
    assert ahead is not None and ahead.distance_m < got.distance_m


def test_no_bus_in_service() -> None:
    dirs = parse(feed()).for_route("r1")
    assert choose("s2", [], dirs) is None
