"""AirKorea's open API, served for the city's own stations: Korean displays and apps written against
``apis.data.go.kr/B552584/ArpltnInforInqireSvc`` read citywatch by changing the host (``api.airkorea``
shapes the answer)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from alerts.maintenance import UNTIL, window_from_row
from api import airkorea
from api.deps import State, Viewer
from api.problems import responses

router = APIRouter(prefix="/B552584/ArpltnInforInqireSvc", tags=["AirKorea"])

_STATION = (
    "SELECT device_id, name, zone_id, meta FROM devices WHERE kind = 'aq' AND (name = %s OR device_id = %s)"
)
_HOURS = """
WITH heard AS (
    SELECT time_bucket('1 hour', time) + interval '1 hour' AS hour, avg(pm10) AS pm10, avg(pm25) AS pm25,
           avg(o3) AS o3, avg(no2) AS no2, avg(co) AS co, avg(so2) AS so2
    FROM air_quality WHERE device_id = %(dev)s AND time >= %(first)s - interval '1 hour' AND time < %(last)s
    GROUP BY 1
)
SELECT g.hour, h.hour IS NOT NULL AS heard, h.pm10, h.pm25, h.o3, h.no2, h.co, h.so2,
       a.pm10_24h, a.pm25_24h
FROM generate_series(%(first)s::timestamptz, %(last)s::timestamptz, interval '1 hour') AS g(hour)
LEFT JOIN heard h ON h.hour = g.hour
LEFT JOIN aq_hourly a ON a.device_id = %(dev)s AND a.hour = g.hour
ORDER BY g.hour DESC
"""
_MAINTENANCE = f"""
SELECT m.* FROM maintenance m WHERE (m.subject = %(dev)s OR m.subject = 'zone:' || %(zone)s)
  AND m.starts_at < %(last)s AND {UNTIL} > %(first)s - interval '1 hour'
"""
_FAULTS = """
SELECT a.rule, a.opened_at, CASE WHEN a.condition_active AND a.state <> 'resolved' THEN now()
       ELSE coalesce((SELECT max(u.at) FROM alert_audit u WHERE u.alert_id = a.id AND u.action = 'condition_cleared'),
                     a.resolved_at, a.last_seen) END AS until,
       a.explanation->'details' AS details
FROM alerts a WHERE a.subject = %(dev)s AND a.rule = ANY(%(rules)s) AND a.opened_at < %(last)s
"""


def _answer(answer: dict[str, Any], return_type: str) -> Response:
    if return_type == "xml":
        return Response(airkorea.as_xml(answer), media_type="application/xml")
    return JSONResponse(answer)


@router.get(
    "/getMsrstnAcctoRltmMesureDnsty",
    response_class=Response,
    summary="측정소별 실시간 측정정보: a station's hours as AirKorea's API answers them",
    responses={**responses(401, 422), 200: {"content": {"application/xml": {}, "application/json": {}}}},
)
def station_hours(
    st: State,
    _who: Viewer,
    stationName: Annotated[str, Query(description="the station's name (or its device id)", max_length=64)],
    dataTerm: Annotated[
        Literal["DAILY", "MONTH", "3MONTH"], Query(description="the last day, 30 or 90 days")
    ] = "DAILY",
    returnType: Annotated[
        Literal["xml", "json"], Query(description="xml (AirKorea's default) or json")
    ] = "xml",
    numOfRows: Annotated[int, Query(ge=1, le=10000)] = 10,
    pageNo: Annotated[int, Query(ge=1)] = 1,
    ver: Annotated[
        str | None, Query(description="accepted for AirKorea's clients; every field is given")
    ] = None,
    serviceKey: Annotated[
        str | None, Query(description="ignored: citywatch takes its API key in a header")
    ] = None,
) -> Response:
    station = st.db.one(_STATION, (stationName, stationName))
    if station is None:  # as AirKorea answers a name it does not know: no items
        return _answer(airkorea.envelope([], 0, pageNo, numOfRows), returnType)
    now = datetime.now(UTC)
    last = now.replace(minute=0, second=0, microsecond=0)
    first = last - timedelta(hours=airkorea.TERMS[dataTerm] - 1)
    where = {"dev": station["device_id"], "first": first, "last": last, "zone": station["zone_id"]}
    windows = [w for r in st.db.all(_MAINTENANCE, where) if (w := window_from_row(r)).concerns("aq")]
    faults = [
        (r["opened_at"], r["until"], airkorea.fault_pollutants(r["rule"], r["details"]))
        for r in st.db.all(_FAULTS, {**where, "rules": airkorea.FAULT_RULES})
    ]
    hours = st.db.all(_HOURS, where)
    skip = (pageNo - 1) * numOfRows
    items = [
        airkorea.item(
            station,
            airkorea.StationHour(
                h["hour"],
                {p: h[p] for p in (*airkorea.GASES, *airkorea.PARTICULATES)},
                {"pm10": h["pm10_24h"], "pm25": h["pm25_24h"]},
                airkorea.flags_of(h["hour"], h["heard"], windows, faults),
            ),
            st.settings.tz,
        )
        for h in hours[skip : skip + numOfRows]
    ]
    return _answer(airkorea.envelope(items, len(hours), pageNo, numOfRows), returnType)
