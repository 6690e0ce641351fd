"""Write the simulated city's bus network as a GTFS static feed (stops, routes,
trips, stop_times, shapes), the format transit agencies publish."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from simulators.city import City


def _csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return out.getvalue()


def feed_files(city: City) -> dict[str, str]:
    stops = [
        {"stop_id": s.stop_id, "stop_name": s.name, "stop_lat": s.lat, "stop_lon": s.lon}
        for s in city.stops.values()
    ]
    routes = [{"route_id": r.route_id, "route_short_name": r.name, "route_type": 3} for r in city.routes]
    trips, times, shapes = [], [], []
    for r in city.routes:
        directions = [[*r.stops, r.stops[0]]] if r.loop else [list(r.stops), list(reversed(r.stops))]
        for d, order in enumerate(directions):
            trip = f"{r.route_id}-d{d}"
            trips.append(
                {
                    "route_id": r.route_id,
                    "service_id": "daily",
                    "trip_id": trip,
                    "direction_id": d,
                    "shape_id": trip,
                }
            )
            for i, sid in enumerate(order):
                t = f"{6 + i // 30:02d}:{(2 * i) % 60:02d}:00"
                times.append(
                    {
                        "trip_id": trip,
                        "arrival_time": t,
                        "departure_time": t,
                        "stop_id": sid,
                        "stop_sequence": i + 1,
                    }
                )
                s = city.stops[sid]
                shapes.append(
                    {
                        "shape_id": trip,
                        "shape_pt_lat": s.lat,
                        "shape_pt_lon": s.lon,
                        "shape_pt_sequence": i + 1,
                    }
                )
    return {
        "stops.txt": _csv(stops),
        "routes.txt": _csv(routes),
        "trips.txt": _csv(trips),
        "stop_times.txt": _csv(times),
        "shapes.txt": _csv(shapes),
    }


def write_feed(city: City, path: Path) -> Path:
    """A GTFS zip at ``path``."""
    with zipfile.ZipFile(path, "w") as z:
        for name, text in feed_files(city).items():
            z.writestr(name, text)
    return path
