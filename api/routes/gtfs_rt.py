"""GTFS Realtime feeds for journey planners and the province's bus information system: the buses'
positions and the stops whose boarding-bell panel is out of order (``api.gtfs_rt`` builds them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from google.protobuf import json_format

from api import gtfs_rt
from api.deps import State, Viewer
from api.problems import responses
from api.routes.buses import buses
from citywatch.i18n import Text, render

router = APIRouter(prefix="/gtfs-rt", tags=["GTFS Realtime"])

Format = Annotated[
    Literal["pb", "json"],
    Query(description="pb: the protocol buffer consumers read; json: the same message to read by eye"),
]
_PB: dict[int | str, dict[str, Any]] = {200: {"content": {gtfs_rt.MEDIA_TYPE: {}, "application/json": {}}}}


def _answer(msg: Any, format: str) -> Response:
    headers = {"Cache-Control": "no-cache"}  # positions move: a consumer polls, a cache must ask again
    if format == "json":
        body = json_format.MessageToJson(msg, preserving_proto_field_name=True, ensure_ascii=False)
        return Response(body, media_type="application/json", headers=headers)
    return Response(msg.SerializeToString(), media_type=gtfs_rt.MEDIA_TYPE, headers=headers)


@router.get(
    "/vehicle-positions",
    response_class=Response,
    summary="The buses' latest positions (GTFS Realtime VehiclePositions)",
    responses={**responses(401, 422), **_PB},
)
def vehicle_positions(
    st: State,
    who: Viewer,
    format: Format = "pb",
    max_age_s: Annotated[
        float, Query(gt=0, le=3600, description="leave out buses silent for longer")
    ] = 300.0,
) -> Response:
    now = datetime.now(UTC)
    return _answer(gtfs_rt.vehicle_positions(buses(st, who, None, max_age_s), now), format)


@router.get(
    "/alerts",
    response_class=Response,
    summary="Stops whose boarding-bell panel is out of order (GTFS Realtime Alerts)",
    responses={**responses(401, 422), **_PB},
)
def alerts(st: State, _who: Viewer, format: Format = "pb") -> Response:
    rows = st.db.all(
        "SELECT h.device_id, d.meta->>'stop_id' AS stop_id, h.state, h.down_since AS since"
        " FROM device_health() h JOIN devices d USING (device_id) WHERE h.kind = 'stop' ORDER BY h.device_id"
    )
    panels = [r for r in rows if r["stop_id"] and r["state"] == "offline"]
    app_heard = any(r["stop_id"] is None and r["state"] == "online" for r in rows)

    def say(text: Text, language: str) -> str:
        return render(text, language, st.names, st.settings.tz)

    return _answer(gtfs_rt.bell_alerts(panels, app_heard, datetime.now(UTC), say), format)
