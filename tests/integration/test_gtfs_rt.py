"""GTFS Realtime through the whole path: a bus's positions published over MQTT and stored by ingest, stop
panels dying (the broker's Last Will), and the feeds a journey planner reads, decoded with the reference
bindings and held to the GTFS static feed the bell runs on."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from google.transit import gtfs_realtime_pb2 as rt

from boarding.gtfs import load
from simulators.engine import Out
from simulators.gtfs import write_feed
from simulators.publisher import Publisher
from tests.support import SECRET, Api, IngestThread, positions, send_positions, wait_for


def _feed(c: httpx.Client, path: str) -> rt.FeedMessage:
    r = c.get(f"/gtfs-rt/{path}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-protobuf", r.text
    msg = rt.FeedMessage()
    msg.ParseFromString(r.content)
    assert (
        msg.header.gtfs_realtime_version == "2.0" and msg.header.incrementality == rt.FeedHeader.FULL_DATASET
    )
    assert abs(msg.header.timestamp - time.time()) < 60
    return msg


def test_a_journey_planner_sees_the_buses_on_the_routes_of_the_static_feed(api: Api, tmp_path: Path) -> None:
    p = api.platform
    net = load(write_feed(p.city, tmp_path / "gtfs.zip"))
    route = p.city.routes[0]
    pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
    pub.open([])
    with IngestThread(p.settings()) as ingest, api.client("viewer") as c:
        assert len(_feed(c, "vehicle-positions").entity) == 0
        pts = positions(net, route.route_id, 0.2, 0.3, 3)
        send_positions(pub, "bus-0101", route.route_id, pts, speed=36.0)
        assert wait_for(lambda: ingest.inbound >= 3, 10)
        assert wait_for(lambda: p.count("SELECT count(*) FROM bus_positions") == 3, 10)
        msg = _feed(c, "vehicle-positions")
        assert [e.id for e in msg.entity] == ["bus-0101"]
        v = msg.entity[0].vehicle
        assert v.trip.route_id in net.routes and v.trip.route_id == route.route_id
        assert not v.trip.HasField("trip_id")  # the route's trips, not one the bus was never matched to
        assert (v.vehicle.id, v.vehicle.label) == ("bus-0101", p.city.by_id()["bus-0101"].name)
        # the specification's coordinates are 32-bit floats: within a metre at Korea's longitudes
        assert max(abs(v.position.latitude - pts[-1][0]), abs(v.position.longitude - pts[-1][1])) < 1e-5
        assert abs(v.position.speed - 10.0) < 1e-4 and v.position.bearing == 90.0  # 36 km/h is 10 m/s
        assert abs(v.timestamp - time.time()) < 60
        read = c.get("/gtfs-rt/vehicle-positions", params={"format": "json"})
        assert read.json()["entity"][0]["vehicle"]["vehicle"]["label"] == v.vehicle.label
        assert v.vehicle.label in read.text  # Korean as it is, not \u escapes
        assert c.get("/gtfs-rt/vehicle-positions", params={"max_age_s": 0}).status_code == 422
    pub.close()
    with httpx.Client(base_url=api.url) as anonymous:
        assert anonymous.get("/gtfs-rt/vehicle-positions").status_code == 401


def test_a_stop_whose_bell_panel_died_is_announced_with_what_a_passenger_can_do(api: Api) -> None:
    p = api.platform
    panel, other = p.city.by_id()["stop-0102"], p.city.by_id()["stop-0103"]
    gateway = p.city.by_id()["app-gateway"]
    pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="device")
    pub.open([panel, other, gateway])
    statuses = (
        "SELECT count(*) FROM device_status WHERE device_id IN ('stop-0102', 'stop-0103', 'app-gateway')"
    )
    with IngestThread(p.settings()), api.client("viewer") as c:
        assert wait_for(lambda: p.count(statuses) == 3, 10)
        assert len(_feed(c, "alerts").entity) == 0  # all heard: nothing to announce
        pub.send(Out(time.time(), panel.device_id, panel.kind, "", b"", "offline"))  # the panel dies
        assert wait_for(lambda: p.count(statuses) == 4, 10)
        msg = _feed(c, "alerts")
        assert [e.id for e in msg.entity] == ["bell-stop-0102"]
        a = msg.entity[0].alert
        assert [s.stop_id for s in a.informed_entity] == [panel.meta["stop_id"]]
        assert (a.cause, a.effect) == (rt.Alert.TECHNICAL_PROBLEM, rt.Alert.OTHER_EFFECT)
        assert abs(a.active_period[0].start - time.time()) < 60 and not a.active_period[0].HasField("end")
        header = {t.language: t.text for t in a.header_text.translation}
        said = {t.language: t.text for t in a.description_text.translation}
        assert header["ko"] == f"승차벨 고장: {panel.name}" and panel.name in header["en"]
        assert "앱으로 요청" in said["ko"] and "app" in said["en"] and "KST" in said["ko"]
        pub.send(Out(time.time(), gateway.device_id, gateway.kind, "", b"", "offline"))  # the app's too
        assert wait_for(lambda: p.count(statuses) == 5, 10)
        said = {t.language: t.text for t in _feed(c, "alerts").entity[0].alert.description_text.translation}
        assert "손을 들어" in said["ko"] and "raise your hand" in said["en"]
    pub.close()
