"""NGSI-LD (ETSI GS CIM 009) read endpoints for neighbouring cities: FIWARE Smart Data Models
``OffStreetParking``, ``ParkingSpot`` and ``AirQualityObserved`` as normalised JSON-LD."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api import ngsi
from api.deps import State, Viewer
from api.problems import Problem, responses
from api.routes.places import lots, stations
from citywatch.i18n import Text

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD"])

TYPES = ("OffStreetParking", "ParkingSpot", "AirQualityObserved")


class LdResponse(JSONResponse):
    media_type = ngsi.MEDIA_TYPE


def _entities(st: State, entity_type: str) -> list[dict[str, Any]]:
    if entity_type == "AirQualityObserved":
        return [
            ngsi.air_quality_observed({**s, **s["latest"], "observed_at": s["latest_time"]})
            for s in stations(st)
        ]
    lot_rows = lots(st, with_spaces=True)
    if entity_type == "OffStreetParking":
        return [
            ngsi.off_street_parking({**lot, "occupancy": lot["occupancy_rate"],
                                     "spaces": [s["space_id"] for s in lot["spaces"]]})
            for lot in lot_rows
        ]  # fmt: skip
    return [
        ngsi.parking_spot({**s, "lot_id": lot["lot_id"], "observed_at": s["since"]})
        for lot in lot_rows
        for s in lot["spaces"]
    ]


_EXAMPLE = {
    "id": "urn:ngsi-ld:OffStreetParking:lot-01",
    "type": "OffStreetParking",
    "availableSpotNumber": {"type": "Property", "value": 12, "observedAt": "2026-11-22T08:00:00Z"},
    "@context": [ngsi.PARKING_CONTEXT, ngsi.CORE_CONTEXT],
}


@router.get(
    "/entities",
    response_class=LdResponse,
    summary="Query entities by type (and optionally id)",
    responses={**responses(400, 401), 200: {"content": {ngsi.MEDIA_TYPE: {"example": [_EXAMPLE]}}}},
)
def query_entities(
    st: State,
    _who: Viewer,
    type: Annotated[str, Query(description=", ".join(TYPES))],
    id: Annotated[list[str] | None, Query(description="entity ids (urn:ngsi-ld:…)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> LdResponse:
    if type not in TYPES:
        raise Problem(400, Text("error.ngsi.type", {"type": type, "known": ", ".join(TYPES)}))
    items = _entities(st, type)
    if id:
        items = [e for e in items if e["id"] in set(id)]
    return LdResponse(items[offset : offset + limit])


@router.get(
    "/entities/{entity_id}",
    response_class=LdResponse,
    summary="One entity by id",
    responses={**responses(401, 404), 200: {"content": {ngsi.MEDIA_TYPE: {"example": _EXAMPLE}}}},
)
def get_entity(st: State, _who: Viewer, entity_id: str) -> LdResponse:
    parts = entity_id.split(":")
    if len(parts) < 4 or parts[:2] != ["urn", "ngsi-ld"] or parts[2] not in TYPES:
        raise Problem(404, Text("error.ngsi.entity", {"id": entity_id}))
    for e in _entities(st, parts[2]):
        if e["id"] == entity_id:
            return LdResponse(e)
    raise Problem(404, Text("error.ngsi.entity", {"id": entity_id}))
