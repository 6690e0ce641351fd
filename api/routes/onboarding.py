"""Onboarding a city: its zones (with their boundaries), parking lots, devices in bulk and the transit
agency's routes (its GTFS static feed, which the boarding bell runs on).

``PUT`` creates or updates one place (idempotent); ``POST /devices/import`` registers thousands of
devices from one CSV, JSON or GeoJSON upload (:mod:`api.onboarding`), answering with what it created,
updated and left alone, and every row it refused with the reasons. Importing the same file again
changes nothing. The broker accounts follow the registry as for one device (``citywatch_registry``).
"""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi import APIRouter, Request
from psycopg.types.json import Jsonb

from api import onboarding
from api.common import audit
from api.deps import Admin, Language, State, Viewer
from api.problems import Problem, responses
from api.schemas import ImportReport, LotIn, Zone, ZoneIn
from boarding.gtfs import GtfsError, content_digest, parse, read_zip
from citywatch.i18n import Text, render

router = APIRouter()

_ZONES_SQL = """
SELECT z.zone_id, z.name, z.meta->'boundary' AS boundary, z.meta->>'attribution' AS attribution,
       count(d.device_id) FILTER (WHERE d.kind = 'aq' AND d.status = 'active') AS stations,
       (SELECT count(*) FROM parking_lots l WHERE l.zone_id = z.zone_id) AS lots,
       count(d.device_id) FILTER (WHERE d.status = 'active') AS devices
FROM zones z LEFT JOIN devices d ON d.zone_id = z.zone_id
WHERE %(zone)s::text IS NULL OR z.zone_id = %(zone)s
GROUP BY z.zone_id ORDER BY z.zone_id
"""


def _registry_changed(st: State) -> None:
    st.db.one("SELECT pg_notify('citywatch_registry', '') AS n")


@router.get("/zones", response_model=list[Zone], tags=["places"], summary="Zones with their boundaries",
            responses=responses(401))  # fmt: skip
def list_zones(st: State, _who: Viewer) -> list[dict[str, Any]]:
    return st.db.all(_ZONES_SQL, {"zone": None})


@router.put(
    "/zones/{zone_id}", response_model=Zone, tags=["admin", "places"],
    summary="Create or update a zone (its name and boundary)", responses=responses(401, 403, 422),
)  # fmt: skip
def put_zone(st: State, who: Admin, zone_id: str, body: ZoneIn) -> dict[str, Any]:
    if not onboarding.ID.match(zone_id):
        raise Problem(422, Text("error.id", {"what": Text("error.id.zone"), "id": zone_id}))
    boundary = body.boundary.model_dump(mode="json", exclude_none=True) if body.boundary else None
    st.db.one(
        "INSERT INTO zones (zone_id, name, meta) VALUES (%(id)s, %(name)s, jsonb_strip_nulls(jsonb_build_object("
        "'boundary', %(boundary)s::jsonb, 'attribution', %(attribution)s::text))) ON CONFLICT (zone_id) DO UPDATE"
        " SET name = excluded.name, meta = jsonb_strip_nulls(zones.meta || jsonb_build_object("
        "'boundary', %(boundary)s::jsonb, 'attribution', %(attribution)s::text)) RETURNING zone_id",
        {
            "id": zone_id,
            "name": body.name,
            "boundary": Jsonb(boundary) if boundary else None,
            "attribution": body.attribution,
        },
    )
    audit(st.db, who.name, "zone.put", zone_id, {"name": body.name, "boundary": boundary is not None})
    _registry_changed(st)
    zone = st.db.all(_ZONES_SQL, {"zone": zone_id})
    return zone[0]


@router.put(
    "/parking/lots/{lot_id}", tags=["admin", "parking"], summary="Create or update a parking lot",
    responses=responses(401, 403, 422),
)  # fmt: skip
def put_lot(st: State, who: Admin, lot_id: str, body: LotIn) -> dict[str, Any]:
    if not onboarding.ID.match(lot_id):
        raise Problem(422, Text("error.id", {"what": Text("error.id.lot"), "id": lot_id}))
    try:
        row = st.db.one(
            "INSERT INTO parking_lots (lot_id, name, capacity, lat, lon, zone_id) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (lot_id) DO UPDATE SET name = excluded.name, capacity = excluded.capacity,"
            " lat = excluded.lat, lon = excluded.lon, zone_id = excluded.zone_id"
            " RETURNING lot_id, name, capacity, lat, lon, zone_id",
            (lot_id, body.name, body.capacity, body.lat, body.lon, body.zone_id),
        )
    except psycopg.errors.ForeignKeyViolation:
        raise Problem(422, Text("error.zone.absent", {"zone": body.zone_id})) from None
    audit(st.db, who.name, "lot.put", lot_id, body.model_dump(mode="json"))
    _registry_changed(st)
    assert row is not None
    return row


_UPSERT = """
INSERT INTO devices AS d (device_id, kind, name, lat, lon, zone_id, lot_id, expected_interval_s, meta)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::float8[], %s::float8[], %s::text[], %s::text[],
                     %s::float8[], %s::jsonb[])
ON CONFLICT (device_id) DO UPDATE SET name = excluded.name, lat = excluded.lat, lon = excluded.lon,
    zone_id = excluded.zone_id, lot_id = excluded.lot_id, expected_interval_s = excluded.expected_interval_s,
    meta = excluded.meta, updated_at = now()
WHERE (d.name, d.lat, d.lon, d.zone_id, d.lot_id, d.expected_interval_s, d.meta)
    IS DISTINCT FROM (excluded.name, excluded.lat, excluded.lon, excluded.zone_id, excluded.lot_id,
                      excluded.expected_interval_s, excluded.meta)
RETURNING (xmax = 0) AS created
"""


@router.post(
    "/devices/import", response_model=ImportReport, tags=["admin"],
    summary="Register devices in bulk: CSV (text/csv), a JSON list, or a GeoJSON FeatureCollection",
    responses=responses(401, 403, 413, 422),
)  # fmt: skip
async def import_devices(request: Request, st: State, who: Admin, lang: Language) -> dict[str, Any]:
    body = await request.body()
    try:
        rows = onboarding.rows_of(request.headers.get("content-type", "application/json"), body)
    except onboarding.Unreadable as e:
        raise Problem(422, e.text) from None
    zones = {r["zone_id"] for r in st.db.all("SELECT zone_id FROM zones")}
    lots = {r["lot_id"] for r in st.db.all("SELECT lot_id FROM parking_lots")}
    kinds = {r["device_id"]: r["kind"] for r in st.db.all("SELECT device_id, kind FROM devices")}
    parsed = onboarding.placed(onboarding.validate(rows), zones, lots, kinds)
    ds = [d for _row, d in parsed.devices]
    written = st.db.all(
        _UPSERT,
        (
            [d.device_id for d in ds], [d.kind.value for d in ds], [d.name for d in ds], [d.lat for d in ds],
            [d.lon for d in ds], [d.zone_id for d in ds], [d.lot_id for d in ds],
            [d.expected_interval_s for d in ds], [Jsonb(d.meta) for d in ds],
        ),
    ) if ds else []  # fmt: skip
    created = sum(1 for w in written if w["created"])
    report = {
        "rows": len(rows),
        "created": created,
        "updated": len(written) - created,
        "unchanged": len(ds) - len(written),
        "refused": [
            {"row": r.row, "device_id": r.device_id, "errors": [render(t, lang) for t in r.errors]}
            for r in parsed.refused
        ],
    }
    audit(st.db, who.name, "device.import", f"{len(rows)} rows", {k: v for k, v in report.items() if k != "refused"}
          | {"refused": len(parsed.refused)})  # fmt: skip
    if written:
        _registry_changed(st)
    return report


MAX_FEED_BYTES = 256 * 1024 * 1024  # a province's feed, shapes and all, is tens of MB
_FEED_SUMMARY = "id, sha256, routes, stops, directions, uploaded_at, uploaded_by"


@router.put(
    "/transit/feed", tags=["admin", "boarding"],
    summary="Upload the transit agency's GTFS static feed (application/zip): the boarding bell runs on it",
    responses=responses(401, 403, 413, 422),
)  # fmt: skip
async def put_feed(request: Request, st: State, who: Admin) -> dict[str, Any]:
    """The feed is read as the bell reads it, so a feed the bell cannot run on is refused here, naming the
    file, the line and the problem. Accepted, it becomes the newest feed; the bell takes it up within
    ``CITYWATCH_BOARDING_FEED_CHECK_S`` (requests at stops its routes no longer serve are rejected,
    their panels told why). Uploading the same feed again (the same files, however zipped) makes it the newest
    once more."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FEED_BYTES:
            raise Problem(413, Text("error.feed.large", {"mib": MAX_FEED_BYTES // 2**20}))
    try:
        files = read_zip(bytes(body), "the upload")
        net = parse(files)
    except GtfsError as e:
        raise Problem(422, str(e)) from None
    digest = content_digest(files)
    row = st.db.one(
        "INSERT INTO transit_feeds (sha256, feed, routes, stops, directions, uploaded_by)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (sha256) DO UPDATE SET uploaded_at = now(),"
        f" uploaded_by = excluded.uploaded_by RETURNING {_FEED_SUMMARY}",
        (digest, bytes(body), len(net.routes), len(net.stops), len(net.directions), who.name),
    )
    assert row is not None
    audit(
        st.db, who.name, "transit.feed", digest[:12], {k: row[k] for k in ("routes", "stops", "directions")}
    )
    return row


@router.get(
    "/transit/feed", tags=["boarding"], summary="The transit feed the boarding bell runs on",
    responses=responses(401, 404),
)  # fmt: skip
def get_feed(st: State, _who: Viewer) -> dict[str, Any]:
    row = st.db.one(f"SELECT {_FEED_SUMMARY} FROM transit_feeds ORDER BY uploaded_at DESC, id DESC LIMIT 1")
    if row is None:
        raise Problem(404, Text("error.feed.none"))
    return row
