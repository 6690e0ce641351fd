"""GTFS Realtime (https://gtfs.org/realtime/) for journey planners and the province's bus information system
(pure): where the buses are (``VehiclePosition``) and which stops' boarding-bell panels are out of order
(``Alert``), each relative to the GTFS static feed the bell runs on.

A bus's position carries the route it runs (``TripDescriptor.route_id`` alone: "all the trips along a
given route", as the specification allows when the trip is not known), its coordinates, heading, speed (in
m/s, as the specification has it) and the time it was measured. A panel's alert names its stop
(``EntitySelector.stop_id``), the time it went quiet (``active_period``) and says in Korean and English
what a passenger can do instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from google.transit import gtfs_realtime_pb2 as rt

from citywatch.i18n import LANGUAGES, Text, at, place, sentences

MEDIA_TYPE = "application/x-protobuf"
VERSION = "2.0"

#: a text in every language citywatch is written in, for one of the alert's TranslatedStrings
Say = Callable[[Text, str], str]


def _feed(now: datetime) -> Any:
    msg = rt.FeedMessage()
    msg.header.gtfs_realtime_version = VERSION
    msg.header.incrementality = rt.FeedHeader.FULL_DATASET
    msg.header.timestamp = int(now.timestamp())
    return msg


def vehicle_positions(buses: Iterable[Mapping[str, Any]], now: datetime) -> Any:
    """A ``FeedMessage`` of the buses' latest positions: rows with ``bus_id``, ``name``, ``route_id``,
    ``time``, ``lat``, ``lon``, ``speed_kmh`` and ``heading_deg`` (as ``GET /api/v1/buses`` answers)."""
    msg = _feed(now)
    for b in buses:
        e = msg.entity.add()
        e.id = b["bus_id"]
        v = e.vehicle
        v.trip.route_id = b["route_id"]
        v.vehicle.id = b["bus_id"]
        v.vehicle.label = b["name"]
        v.position.latitude = b["lat"]
        v.position.longitude = b["lon"]
        v.position.bearing = b["heading_deg"]
        v.position.speed = b["speed_kmh"] / 3.6
        v.timestamp = int(b["time"].timestamp())
    return msg


def _translated(field: Any, text: Text, say: Say) -> None:
    for language in LANGUAGES:
        t = field.translation.add()
        t.text = say(text, language)
        t.language = language


def bell_alerts(panels: Iterable[Mapping[str, Any]], app_heard: bool, now: datetime, say: Say) -> Any:
    """A ``FeedMessage`` with an alert for each stop whose bell panel is out of order: rows with
    ``device_id``, ``stop_id`` and ``since`` (when it went quiet, if known). ``app_heard``: whether the app's
    gateway is working, so that a passenger can be told to use it; ``say``: a text in a language."""
    msg = _feed(now)
    advice = Text("gtfsrt.bell.use_app" if app_heard else "gtfsrt.bell.wave")
    for p in panels:
        e = msg.entity.add()
        e.id = f"bell-{p['device_id']}"
        a = e.alert
        if p["since"] is not None:
            a.active_period.add().start = int(p["since"].timestamp())
        a.informed_entity.add().stop_id = p["stop_id"]
        a.cause = rt.Alert.TECHNICAL_PROBLEM
        a.effect = rt.Alert.OTHER_EFFECT
        a.severity_level = rt.Alert.WARNING
        _translated(a.header_text, Text("gtfsrt.bell.header", {"panel": place(p["device_id"])}), say)
        said = Text("gtfsrt.bell.since", {"since": at(p["since"])}) if p["since"] is not None else None
        _translated(a.description_text, sentences(said, advice), say)
    return msg
