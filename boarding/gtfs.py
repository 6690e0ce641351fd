"""GTFS static feed import (stops, routes, trips, stop_times, shapes) with clear errors.

What the boarding bell needs from a feed: for each route and direction, the
ordered stops and the path the buses drive (from ``shapes.txt`` when present,
else the straight lines between the stops), with each stop's distance along it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path as FsPath

from boarding.geometry import LatLon, Path

REQUIRED = {
    "stops.txt": ("stop_id", "stop_name", "stop_lat", "stop_lon"),
    "routes.txt": ("route_id",),
    "trips.txt": ("route_id", "trip_id"),
    "stop_times.txt": ("trip_id", "stop_id", "stop_sequence"),
}


class GtfsError(ValueError):
    """A malformed feed; names the file, the line and the problem."""

    def __init__(self, file: str, problem: str, line: int | None = None) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"GTFS {where}: {problem}")
        self.file, self.line, self.problem = file, line, problem


@dataclass(frozen=True, slots=True)
class Stop:
    stop_id: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class RouteDirection:
    route_id: str
    direction: int
    stops: tuple[str, ...]
    path: Path
    stop_along: dict[str, float] = field(default_factory=dict)  # distance of each stop along the path
    loop: bool = False


@dataclass
class Network:
    stops: dict[str, Stop]
    routes: dict[str, str]  # route_id -> name
    directions: dict[tuple[str, int], RouteDirection]

    def serving(self, stop_id: str) -> set[str]:
        return {r for (r, _d), rd in self.directions.items() if stop_id in rd.stops}

    def for_route(self, route_id: str) -> list[RouteDirection]:
        return [rd for (r, _d), rd in sorted(self.directions.items()) if r == route_id]


def _read(files: dict[str, str], name: str, required: bool = True) -> list[dict[str, str]]:
    if name not in files:
        if required:
            raise GtfsError(name, "missing from the feed")
        return []
    reader = csv.DictReader(io.StringIO(files[name].lstrip("\ufeff")))
    fields = set(reader.fieldnames or ())
    for col in REQUIRED.get(name, ()):
        if col not in fields:
            raise GtfsError(name, f"missing column {col!r}")
    return list(reader)


def _float(file: str, line: int, row: dict[str, str], col: str, lo: float, hi: float) -> float:
    try:
        v = float(row[col])
    except (TypeError, ValueError):
        raise GtfsError(file, f"{col} is not a number: {row.get(col)!r}", line) from None
    if not lo <= v <= hi:
        raise GtfsError(file, f"{col} {v} outside {lo}..{hi}", line)
    return v


def parse(files: dict[str, str]) -> Network:
    stops: dict[str, Stop] = {}
    for i, r in enumerate(_read(files, "stops.txt"), start=2):
        stops[r["stop_id"]] = Stop(
            r["stop_id"],
            r["stop_name"],
            _float("stops.txt", i, r, "stop_lat", -90, 90),
            _float("stops.txt", i, r, "stop_lon", -180, 180),
        )
    routes = {
        r["route_id"]: r.get("route_short_name") or r.get("route_long_name") or r["route_id"]
        for r in _read(files, "routes.txt")
    }
    trips: dict[str, tuple[str, int, str | None]] = {}
    for i, r in enumerate(_read(files, "trips.txt"), start=2):
        if r["route_id"] not in routes:
            raise GtfsError("trips.txt", f"unknown route {r['route_id']!r}", i)
        dir_text = r.get("direction_id") or "0"
        if dir_text not in ("0", "1"):
            raise GtfsError("trips.txt", f"direction_id must be 0 or 1, not {dir_text!r}", i)
        trips[r["trip_id"]] = (r["route_id"], int(dir_text), r.get("shape_id") or None)
    seqs: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for i, r in enumerate(_read(files, "stop_times.txt"), start=2):
        if r["trip_id"] not in trips:
            raise GtfsError("stop_times.txt", f"unknown trip {r['trip_id']!r}", i)
        if r["stop_id"] not in stops:
            raise GtfsError("stop_times.txt", f"unknown stop {r['stop_id']!r}", i)
        try:
            seqs[r["trip_id"]].append((int(r["stop_sequence"]), r["stop_id"]))
        except ValueError:
            raise GtfsError(
                "stop_times.txt", f"stop_sequence is not an integer: {r['stop_sequence']!r}", i
            ) from None
    shapes: dict[str, list[tuple[int, LatLon]]] = defaultdict(list)
    for i, r in enumerate(_read(files, "shapes.txt", required=False), start=2):
        for col in ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"):
            if col not in r:
                raise GtfsError("shapes.txt", f"missing column {col!r}")
        shapes[r["shape_id"]].append(
            (
                int(r["shape_pt_sequence"]),
                (
                    _float("shapes.txt", i, r, "shape_pt_lat", -90, 90),
                    _float("shapes.txt", i, r, "shape_pt_lon", -180, 180),
                ),
            )
        )
    directions: dict[tuple[str, int], RouteDirection] = {}
    for trip_id, (route_id, d, shape_id) in trips.items():  # the first trip of each route and direction
        if (route_id, d) in directions or trip_id not in seqs:
            continue
        order = tuple(s for _, s in sorted(seqs[trip_id]))
        if len(order) < 2:
            raise GtfsError("stop_times.txt", f"trip {trip_id!r} has fewer than two stops")
        if shape_id and shape_id in shapes:
            pts = tuple(p for _, p in sorted(shapes[shape_id]))
        else:
            pts = tuple((stops[s].lat, stops[s].lon) for s in order)
        loop = order[0] == order[-1]
        path = Path(pts)
        along: dict[str, float] = {}
        last = -1.0
        for s in order[:-1] if loop else order:
            a = path.project((stops[s].lat, stops[s].lon), after_m=last if last >= 0 else None).along_m
            along[s] = a
            last = a
        directions[(route_id, d)] = RouteDirection(
            route_id, d, order[:-1] if loop else order, path, along, loop
        )
    if not directions:
        raise GtfsError("trips.txt", "no trip with stop times")
    return Network(stops, routes, directions)


def load(source: FsPath) -> Network:
    """A feed from a .zip file or a directory of .txt files."""
    if source.is_dir():
        return parse({p.name: p.read_text(encoding="utf-8") for p in source.glob("*.txt")})
    return load_zip(source.read_bytes(), source.name)


def load_zip(data: bytes, name: str = "feed.zip") -> Network:
    """A feed from the bytes of its .zip file (an upload, a row of ``transit_feeds``)."""
    return parse(read_zip(data, name))


def read_zip(data: bytes, name: str = "feed.zip") -> dict[str, str]:
    """The feed's text files by name, as :func:`parse` takes them; folders inside the archive are ignored."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return {FsPath(n).name: z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".txt")}
    except zipfile.BadZipFile:
        raise GtfsError(name, "not a zip file or a directory") from None
    except UnicodeDecodeError as e:
        raise GtfsError(name, f"a file is not UTF-8 text ({e.reason} at byte {e.start})") from None


def content_digest(files: dict[str, str]) -> str:
    """SHA-256 of what a feed says: its files' names and texts, not the archive around them. The same feed
    exported twice zips to different bytes (each entry carries the time it was written, the order and the
    compression vary); it is still the same feed."""
    h = hashlib.sha256()
    for name in sorted(files):
        for part in (name.encode(), files[name].encode()):
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
    return h.hexdigest()
