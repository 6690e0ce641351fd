"""FIWARE Smart Data Models as NGSI-LD normalised JSON-LD (pure).

Neighbouring cities consume parking availability and air quality in these
standard shapes: ``OffStreetParking`` and ``ParkingSpot`` (dataModel.Parking)
and ``AirQualityObserved`` (dataModel.Environment). Every attribute is a
``Property`` (with ``observedAt`` where it is a measurement), a
``GeoProperty`` or a ``Relationship``; ids are ``urn:ngsi-ld:<Type>:<id>``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
PARKING_CONTEXT = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Parking/master/context.jsonld"
)
ENVIRONMENT_CONTEXT = (
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld"
)
MEDIA_TYPE = "application/ld+json"


def urn(entity_type: str, ident: str) -> str:
    return f"urn:ngsi-ld:{entity_type}:{ident}"


def prop(value: Any, observed_at: datetime | None = None, unit: str | None = None) -> dict[str, Any]:
    p: dict[str, Any] = {"type": "Property", "value": value}
    if observed_at is not None:
        p["observedAt"] = observed_at.isoformat().replace("+00:00", "Z")
    if unit is not None:
        p["unitCode"] = unit
    return p


def geo(lat: float, lon: float) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def rel(target: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


def _entity(entity_type: str, ident: str, context: str, attrs: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": urn(entity_type, ident), "type": entity_type}
    body.update({k: v for k, v in attrs.items() if v is not None})
    body["@context"] = [context, CORE_CONTEXT]
    return body


#: our lot status -> the data model's status enum
LOT_STATUS = {"open": "open", "almost_full": "almostFull", "full": "full", "unknown": "unknown"}


def off_street_parking(lot: dict[str, Any]) -> dict[str, Any]:
    """``lot``: lot_id, name, lat, lon, capacity, occupied, available, occupancy, status, observed_at, spaces."""
    t = lot.get("observed_at")
    return _entity(
        "OffStreetParking",
        lot["lot_id"],
        PARKING_CONTEXT,
        {
            "name": prop(lot["name"]),
            "location": geo(lot["lat"], lot["lon"]),
            "category": prop(["offStreet", "public"]),
            "allowedVehicleType": prop(["car"]),
            "totalSpotNumber": prop(lot["capacity"]),
            "availableSpotNumber": prop(lot["available"], t),
            "occupiedSpotNumber": prop(lot["occupied"], t),
            "occupancy": prop(round(lot["occupancy"], 4), t),
            "status": prop([LOT_STATUS.get(lot["status"], "unknown")], t),
            "refParkingSpot": (
                {
                    "type": "Relationship",
                    "object": [urn("ParkingSpot", spot_id(lot["lot_id"], s)) for s in lot["spaces"]],
                }
                if lot.get("spaces")
                else None
            ),
        },
    )


def spot_id(lot_id: str, space_id: str) -> str:
    """Space labels repeat across lots (S001 in every lot): the entity id carries the lot."""
    return f"{lot_id}:{space_id}"


def parking_spot(space: dict[str, Any]) -> dict[str, Any]:
    """``space``: space_id, lot_id, occupied (None if never heard), observed_at, lat, lon (optional)."""
    status = "unknown" if space["occupied"] is None else ("occupied" if space["occupied"] else "free")
    return _entity(
        "ParkingSpot",
        spot_id(space["lot_id"], space["space_id"]),
        PARKING_CONTEXT,
        {
            "name": prop(space["space_id"]),
            "location": geo(space["lat"], space["lon"]) if space.get("lat") is not None else None,
            "category": prop(["offStreet"]),
            "status": prop(status, space.get("observed_at")),
            "refParkingSite": rel(urn("OffStreetParking", space["lot_id"])),
        },
    )


#: UN/CEFACT common codes for the units we report
_UNITS = {"pm10": "GQ", "pm25": "GQ", "o3": "59", "no2": "59", "co": "59", "so2": "59"}  # µg/m³, ppm
_NAMES = {"pm10": "pm10", "pm25": "pm25", "o3": "o3", "no2": "no2", "co": "co", "so2": "so2"}


def air_quality_observed(station: dict[str, Any]) -> dict[str, Any]:
    """``station``: device_id, name, lat, lon, zone_id, observed_at, pollutant values, temp_c, rh, cai, grade."""
    t = station.get("observed_at")
    attrs: dict[str, Any] = {
        "name": prop(station["name"]),
        "location": geo(station["lat"], station["lon"]),
        "dateObserved": prop(t.isoformat().replace("+00:00", "Z")) if t else None,
        "areaServed": prop(station.get("zone_id")) if station.get("zone_id") else None,
        "temperature": prop(station["temp_c"], t, "CEL") if station.get("temp_c") is not None else None,
        "relativeHumidity": (
            prop(round(station["rh"] / 100.0, 4), t, "C62") if station.get("rh") is not None else None
        ),
        "airQualityIndex": prop(station["cai"], t) if station.get("cai") is not None else None,
        "airQualityLevel": prop(station["grade"], t) if station.get("grade") else None,
        "refDevice": rel(urn("Device", station["device_id"])),
    }
    for key, name in _NAMES.items():
        if station.get(key) is not None:
            attrs[name] = prop(station[key], t, _UNITS[key])
    return _entity("AirQualityObserved", station["device_id"], ENVIRONMENT_CONTEXT, attrs)
