"""Buses and the boarding bell: live positions, the routes they run, open stop requests, no-stop passes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.common import time_range
from api.deps import State, Viewer
from api.problems import responses
from api.schemas import BellRequest, BusPosition, PassStats
from boarding.gtfs import GtfsError, Network, load, load_zip
from boarding.service import NEWEST_FEED, gtfs_path

router = APIRouter(tags=["buses"])
#: most points a route's line is drawn with (a province's shapes have tens of thousands)
LINE_POINTS = 400


_lines: dict[object, dict[str, Any]] = {}  # the routes' lines of the one feed last drawn, by its identity


def _network(st: State) -> tuple[object, Network | None]:
    """The transit network the boarding bell runs on (the newest feed uploaded, else the feed file), and
    what identifies it (the upload's id, or the file and its modification time): a feed is read once."""
    with st.db.pool.connection() as conn:
        row = conn.execute(NEWEST_FEED).fetchone()
        if row is not None:
            key = ("uploaded", row["id"])
            if key in _lines:
                return key, None
            feed = conn.execute("SELECT feed FROM transit_feeds WHERE id = %s", (row["id"],)).fetchone()
            return key, load_zip(bytes(feed["feed"]), f"uploaded feed {row['id']}") if feed else None
    path = gtfs_path(st.settings)
    if not path.exists():
        return None, None
    key = (str(path), path.stat().st_mtime_ns)
    try:
        return key, None if key in _lines else load(path)
    except GtfsError:
        return None, None


@router.get(
    "/transit/routes", summary="The bus routes as lines (GeoJSON): the network the boarding bell runs on",
    responses=responses(401),
)  # fmt: skip
def routes(st: State, _who: Viewer) -> dict[str, Any]:
    key, net = _network(st)
    if key in _lines:
        return _lines[key]
    features = []
    for (route_id, direction), rd in sorted((net.directions if net else {}).items()):
        points = rd.path.points
        step = max(1, len(points) // LINE_POINTS)
        line = [[round(lon, 6), round(lat, 6)] for lat, lon in (*points[::step], points[-1])]
        features.append({
            "type": "Feature",
            "properties": {"route_id": route_id, "name": net.routes.get(route_id, route_id) if net else route_id,
                           "direction": direction, "stops": list(rd.stops), "loop": rd.loop},
            "geometry": {"type": "LineString", "coordinates": line},
        })  # fmt: skip
    out = {"type": "FeatureCollection", "features": features}
    if key is not None:
        _lines.clear()
        _lines[key] = out
    return out


@router.get(
    "/buses", response_model=list[BusPosition], summary="Live bus positions (buses heard from recently)",
    responses=responses(401, 422),
)  # fmt: skip
def buses(
    st: State,
    _who: Viewer,
    route: str | None = None,
    max_age_s: Annotated[float, Query(gt=0, le=86400)] = 300.0,
) -> list[dict[str, Any]]:
    return st.db.all(
        "SELECT d.device_id AS bus_id, d.name, p.route_id, p.time, p.lat, p.lon, p.speed_kmh, p.heading_deg, p.door_open,"
        " extract(epoch FROM now() - p.time)::float8 AS age_s"
        " FROM devices d CROSS JOIN LATERAL (SELECT * FROM bus_positions b WHERE b.device_id = d.device_id"
        "   AND b.time > now() - make_interval(secs => %(age)s) ORDER BY b.time DESC LIMIT 1) p"
        " WHERE d.kind = 'bus' AND d.status = 'active' AND (%(route)s::text IS NULL OR p.route_id = %(route)s)"
        " ORDER BY p.route_id, d.device_id",
        {"age": max_age_s, "route": route},
    )


@router.get(
    "/bell/requests", response_model=list[BellRequest],
    summary="Stop requests: open ones (waiting, with their assigned bus and ETA) or all in a range",
    responses=responses(401, 422),
)  # fmt: skip
def requests(
    st: State,
    _who: Viewer,
    open: bool = True,
    route: str | None = None,
    stop: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    t0, t1 = time_range(start, end, timedelta(hours=24), st.settings.api.max_range_days)
    return st.db.all(
        "SELECT request_id, device_id, stop_id, route_id, passengers, wheelchair, status, bus_id, eta_s, reason,"
        " requested_at, updated_at, extract(epoch FROM coalesce(CASE WHEN status IN ('pending','assigned','no_bus')"
        "   THEN now() END, updated_at) - requested_at)::float8 AS waiting_s"
        " FROM bell_requests WHERE (%(route)s::text IS NULL OR route_id = %(route)s)"
        " AND (%(stop)s::text IS NULL OR stop_id = %(stop)s)"
        " AND (CASE WHEN %(open)s THEN status IN ('pending', 'assigned', 'no_bus')"
        "      ELSE requested_at >= %(t0)s AND requested_at < %(t1)s END)"
        " ORDER BY requested_at DESC LIMIT %(n)s",
        {"route": route, "stop": stop, "open": open, "t0": t0, "t1": t1, "n": limit},
    )


@router.get(
    "/bell/passes/stats", response_model=list[PassStats],
    summary="Passages at stops with a waiting passenger, per route and day (the city's days): served vs passed",
    responses=responses(401, 422),
)  # fmt: skip
def pass_stats(
    st: State,
    _who: Viewer,
    start: datetime | None = None,
    end: datetime | None = None,
    route: str | None = None,
) -> list[dict[str, Any]]:
    t0, t1 = time_range(start, end, timedelta(days=7), st.settings.api.max_range_days)
    rows = st.db.all(
        "SELECT time_bucket('1 day', time, %s) AS day, route_id, count(*) AS passes,"
        " count(*) FILTER (WHERE served) AS served, count(*) FILTER (WHERE NOT served) AS no_stop_passes,"
        " coalesce(array_agg(DISTINCT bus_id) FILTER (WHERE NOT served), '{}') AS buses_passing"
        " FROM bell_passes WHERE time >= %s AND time < %s AND (%s::text IS NULL OR route_id = %s)"
        " GROUP BY 1, 2 ORDER BY 1, 2",
        (st.settings.timezone, t0, t1, route, route),
    )
    return [
        {**r, "no_stop_rate": round(r["no_stop_passes"] / r["passes"], 4) if r["passes"] else 0.0}
        for r in rows
    ]
