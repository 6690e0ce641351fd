"""CCTV video-analytics events and per-zone counts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.common import decode_cursor, encode_cursor, time_range, utc
from api.deps import State, Viewer
from api.problems import responses
from api.schemas import CctvEvent, Page, ZoneCount

router = APIRouter(prefix="/cctv", tags=["cctv"])

_COLS = "time, device_id, event_id, event_type, confidence, object_class, bbox, zone, object_count"


@router.get(
    "/events", response_model=Page[CctvEvent], summary="Events, newest first", responses=responses(401, 422)
)
def events(
    st: State,
    _who: Viewer,
    camera: Annotated[list[str] | None, Query()] = None,
    type: Annotated[list[str] | None, Query(description="intrusion, loitering, fall, fight, fire, …")] = None,
    zone: Annotated[list[str] | None, Query()] = None,
    min_confidence: Annotated[float, Query(ge=0, le=1)] = 0.0,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    t0, t1 = time_range(start, end, timedelta(hours=24), st.settings.api.max_range_days)
    after_t, after_id = (
        (utc(datetime.fromisoformat(p[0])), p[1])
        if cursor and (p := decode_cursor(cursor, 2))
        else (None, None)
    )
    rows = st.db.all(
        f"SELECT {_COLS} FROM cctv_events WHERE time >= %(t0)s AND time < %(t1)s"
        " AND (%(cam)s::text[] IS NULL OR device_id = ANY(%(cam)s))"
        " AND (%(type)s::text[] IS NULL OR event_type = ANY(%(type)s))"
        " AND (%(zone)s::text[] IS NULL OR zone = ANY(%(zone)s)) AND confidence >= %(conf)s"
        " AND (%(at)s::timestamptz IS NULL OR (time, event_id) < (%(at)s, %(aid)s))"
        " ORDER BY time DESC, event_id DESC LIMIT %(n)s",
        {
            "t0": t0, "t1": t1, "cam": camera, "type": type, "zone": zone, "conf": min_confidence,
            "at": after_t, "aid": after_id, "n": limit + 1,
        },
    )  # fmt: skip
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": rows,
        "next_cursor": encode_cursor(rows[-1]["time"], rows[-1]["event_id"]) if more else None,
    }


@router.get(
    "/counts", response_model=list[ZoneCount], summary="Events per zone and type in a range",
    responses=responses(401, 422),
)  # fmt: skip
def counts(
    st: State,
    _who: Viewer,
    start: datetime | None = None,
    end: datetime | None = None,
    min_confidence: Annotated[float, Query(ge=0, le=1)] = 0.0,
) -> list[dict[str, Any]]:
    t0, t1 = time_range(start, end, timedelta(hours=24), st.settings.api.max_range_days)
    return st.db.all(
        "SELECT zone, event_type, count(*) AS events, count(DISTINCT device_id) AS cameras FROM cctv_events"
        " WHERE time >= %s AND time < %s AND confidence >= %s GROUP BY zone, event_type ORDER BY zone, events DESC",
        (t0, t1, min_confidence),
    )
