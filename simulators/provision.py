"""Register a simulated city in the device registry (idempotent upserts)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from simulators.city import ZONE_NAMES, City

#: Suwon's four districts as Statistics Korea draws them (cut by tools/boundaries.py; KOGL type 1)
DISTRICTS = Path(__file__).with_name("suwon-districts.geojson")


@cache
def boundaries() -> dict[str, dict[str, Any]]:
    """Per zone, its boundary (a GeoJSON geometry) and the attribution its source asks for."""
    doc = orjson.loads(DISTRICTS.read_bytes())
    return {
        f["properties"]["zone_id"]: {"boundary": f["geometry"], "attribution": f["properties"]["attribution"]}
        for f in doc["features"]
    }


def register_city(conninfo: str, city: City) -> int:
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO zones (zone_id, name, meta) VALUES (%s, %s, %s) ON CONFLICT (zone_id) DO UPDATE"
            " SET name = excluded.name, meta = zones.meta || excluded.meta",
            # the city's districts with their outlines, and any other zone its devices are in (named by its id)
            [
                *((z, name, Jsonb(boundaries().get(z, {}))) for z, name in ZONE_NAMES.items()),
                *((z, z, Jsonb({})) for z in sorted({d.zone for d in city.devices} - set(ZONE_NAMES))),
            ],
        )
        cur.executemany(
            "INSERT INTO parking_lots (lot_id, name, capacity, lat, lon, zone_id, meta) VALUES (%s,%s,%s,%s,%s,%s,%s)"
            " ON CONFLICT (lot_id) DO UPDATE SET name = excluded.name, capacity = excluded.capacity,"
            " lat = excluded.lat, lon = excluded.lon, zone_id = excluded.zone_id, meta = excluded.meta",
            [
                (
                    lot.lot_id,
                    lot.name,
                    lot.capacity,
                    lot.lat,
                    lot.lon,
                    lot.zone,
                    Jsonb({"profile": lot.profile}),
                )
                for lot in city.lots
            ],
        )
        cur.executemany(
            "INSERT INTO devices (device_id, kind, name, lat, lon, zone_id, lot_id, expected_interval_s, meta)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (device_id) DO UPDATE SET kind = excluded.kind,"
            " name = excluded.name, lat = excluded.lat, lon = excluded.lon, zone_id = excluded.zone_id,"
            " lot_id = excluded.lot_id, expected_interval_s = excluded.expected_interval_s, meta = excluded.meta,"
            " updated_at = now()",
            [
                (
                    d.device_id,
                    d.kind.value,
                    d.name,
                    d.lat,
                    d.lon,
                    d.zone,
                    d.lot_id,
                    d.expected_interval_s,
                    Jsonb(d.meta),
                )
                for d in city.devices
            ],
        )
    return len(city.devices)
