"""Air-quality stations and advisories; parking lots and spaces."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from alerts import queries
from alerts.model import Severity
from analytics.airquality.cai import grade
from analytics.parking import lot_status
from api.common import time_range
from api.deps import Language, State, Viewer
from api.problems import Problem, responses
from api.schemas import Advisory, AqHour, Lot, LotDetail, Station
from citywatch.i18n import Text

router = APIRouter()

_AQ_COLS = ("pm10", "pm25", "o3", "no2", "co", "so2", "temp_c", "rh")

_STATIONS_SQL = f"""
SELECT d.device_id, d.name, d.zone_id, d.lat, d.lon,
       h.hour, h.cai, h.grade, h.dominant, coalesce(h.sub_indices, '{{}}'::jsonb) AS sub_indices,
       h.pm10_24h, h.pm25_24h,
       l.time AS latest_time, {", ".join("l." + c for c in _AQ_COLS)}
FROM devices d
LEFT JOIN LATERAL (SELECT * FROM aq_hourly a WHERE a.device_id = d.device_id ORDER BY a.hour DESC LIMIT 1) h ON true
LEFT JOIN LATERAL (SELECT * FROM air_quality q WHERE q.device_id = d.device_id ORDER BY q.time DESC LIMIT 1) l ON true
WHERE d.kind = 'aq' AND d.status = 'active' AND (%(zone)s::text IS NULL OR d.zone_id = %(zone)s)
  AND (%(id)s::text IS NULL OR d.device_id = %(id)s)
ORDER BY d.device_id
"""


def stations(st: State, zone: str | None = None, device_id: str | None = None) -> list[dict[str, Any]]:
    rows = st.db.all(_STATIONS_SQL, {"zone": zone, "id": device_id})
    return [
        {
            **r,
            "latest": {c: r[c] for c in _AQ_COLS},
            "grades": {p: grade(int(i)).value for p, i in r["sub_indices"].items() if i is not None},
        }
        for r in rows
    ]


@router.get(
    "/airquality/stations", response_model=list[Station], tags=["air quality"],
    summary="Stations with their current CAI, grade and per-pollutant sub-indices", responses=responses(401),
)  # fmt: skip
def list_stations(st: State, _who: Viewer, zone: str | None = None) -> list[dict[str, Any]]:
    return stations(st, zone)


@router.get(
    "/airquality/stations/{device_id}/history", response_model=list[AqHour], tags=["air quality"],
    summary="Hourly CAI and 24-hour particulate means of one station", responses=responses(401, 404, 422),
)  # fmt: skip
def station_history(
    st: State, _who: Viewer, device_id: str, start: datetime | None = None, end: datetime | None = None
) -> list[dict[str, Any]]:
    if not stations(st, device_id=device_id):
        raise Problem(404, Text("error.station", {"device": device_id}))
    t0, t1 = time_range(start, end, timedelta(days=7), st.settings.api.max_range_days)
    return st.db.all(
        "SELECT hour, cai, grade, dominant, pm10_24h, pm25_24h, o3, no2, co, so2, sub_indices FROM aq_hourly"
        " WHERE device_id = %s AND hour >= %s AND hour < %s ORDER BY hour",
        (device_id, t0, t1),
    )


@router.get(
    "/airquality/advisories", response_model=list[Advisory], tags=["air quality"],
    summary="Fine-dust and ozone advisories (주의보/경보): in force, or in a time range",
    responses=responses(401, 422),
)  # fmt: skip
def advisories(
    st: State,
    _who: Viewer,
    lang: Language,
    zone: Annotated[str | None, Query(description="a zone or station the advisory is for")] = None,
    active: bool = True,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    t0, t1 = time_range(start, end, timedelta(days=30), st.settings.api.max_range_days)
    rows = queries.advisories(st.db, zone, active, t0, t1)
    return [
        {
            "alert_id": r["id"],
            "pollutant": r["rule"].removeprefix("aq.advisory."),
            "subject": r["subject"],
            "level": (r["explanation"].get("details") or {}).get("level"),
            "severity": Severity(r["severity"]).label,
            "state": r["state"],
            "title": st.names.title(r, lang),
            "issued_at": r["opened_at"],
            "last_seen": r["last_seen"],
            "lifted_at": r["resolved_at"],
            "peak": r["peak"],
        }
        for r in rows
    ]


# -- parking ------------------------------------------------------------------------
_SPACES_SQL = """
SELECT d.lot_id, d.device_id, coalesce(l.space_id, d.meta->>'space_id', d.device_id) AS space_id,
       l.occupied, l.time, b.battery_pct, c.since
FROM devices d
LEFT JOIN LATERAL (SELECT space_id, occupied, time FROM parking_events p WHERE p.device_id = d.device_id
                   ORDER BY p.time DESC LIMIT 1) l ON true
LEFT JOIN LATERAL (SELECT battery_pct FROM parking_events p WHERE p.device_id = d.device_id
                   AND p.battery_pct IS NOT NULL ORDER BY p.time DESC LIMIT 1) b ON true
LEFT JOIN LATERAL (SELECT time AS since FROM parking_events p WHERE p.device_id = d.device_id
                   AND p.reason = 'change' ORDER BY p.time DESC LIMIT 1) c ON true
WHERE d.kind = 'parking' AND d.status = 'active' AND (%(lot)s::text IS NULL OR d.lot_id = %(lot)s)
  AND NOT EXISTS (SELECT 1 FROM parking_counts c WHERE c.device_id = d.device_id)  -- a garage's counter
ORDER BY d.lot_id, space_id
"""
#: each lot's latest count by its garage counter, where it has one
_COUNTS_SQL = """
SELECT l.lot_id, c.device_id, c.occupied, c.capacity, c.time
FROM parking_lots l
JOIN LATERAL (SELECT device_id, occupied, capacity, time FROM parking_counts p WHERE p.lot_id = l.lot_id
              ORDER BY p.time DESC LIMIT 1) c ON true
WHERE %(lot)s::text IS NULL OR l.lot_id = %(lot)s
"""


def lots(st: State, lot_id: str | None = None, with_spaces: bool = False) -> list[dict[str, Any]]:
    almost_full = st.rules.parking.almost_full
    meta = st.db.all(
        "SELECT lot_id, name, zone_id, lat, lon, capacity FROM parking_lots"
        " WHERE (%(lot)s::text IS NULL OR lot_id = %(lot)s) ORDER BY lot_id",
        {"lot": lot_id},
    )
    spaces: dict[str, list[dict[str, Any]]] = {}
    for s in st.db.all(_SPACES_SQL, {"lot": lot_id}):
        spaces.setdefault(s["lot_id"], []).append(s)
    counts = {c["lot_id"]: c for c in st.db.all(_COUNTS_SQL, {"lot": lot_id})}
    faults = queries.live_of_rules(st.db, "parking.count_")  # a garage counter's own live fault
    out = []
    for lot in meta:
        ss = spaces.get(lot["lot_id"], [])
        count, fault = counts.get(lot["lot_id"]), faults.get(lot["lot_id"])
        cap = lot["capacity"]
        if count is not None:  # a counted garage: its counter's count, unless the counter is faulty
            occupied = min(max(count["occupied"], 0), cap)
            reporting, observed = (0 if fault else 1), count["time"]
        else:
            known = [s for s in ss if s["occupied"] is not None]
            occupied = sum(1 for s in known if s["occupied"])
            reporting, observed = len(known), max((s["time"] for s in known), default=None)
        row = {
            **lot,
            "sensors": len(ss),
            "reporting": reporting,
            "counted_by": count["device_id"] if count else None,
            "counter_fault": fault,
            "occupied": occupied,
            "available": max(cap - occupied, 0),
            "occupancy_rate": round(occupied / cap, 4) if cap else 0.0,
            "status": lot_status(occupied, cap, reporting, almost_full),
            "observed_at": observed,
        }
        if with_spaces:
            row["spaces"] = [
                {
                    "space_id": s["space_id"],
                    "device_id": s["device_id"],
                    "occupied": s["occupied"],
                    "since": s["since"],
                    "battery_pct": s["battery_pct"],
                }
                for s in ss
            ]
        out.append(row)
    return out


@router.get(
    "/parking/lots", response_model=list[Lot], tags=["parking"],
    summary="Lots with capacity, occupied, available, occupancy rate and status", responses=responses(401),
)  # fmt: skip
def list_lots(st: State, _who: Viewer, zone: str | None = None) -> list[dict[str, Any]]:
    return [lot for lot in lots(st) if zone is None or lot["zone_id"] == zone]


@router.get(
    "/parking/lots/{lot_id}", response_model=LotDetail, tags=["parking"],
    summary="One lot with the state of every space", responses=responses(401, 404),
)  # fmt: skip
def get_lot(st: State, _who: Viewer, lot_id: str) -> dict[str, Any]:
    found = lots(st, lot_id, with_spaces=True)
    if not found:
        raise Problem(404, Text("error.lot.unknown", {"lot": lot_id}))
    return found[0]
