"""Cut a city's district outlines out of the national boundaries, as GeoJSON its zones can carry.

Statistics Korea publishes the boundaries as TopoJSON (``../shared/data/korea-admin``: KOGL type 1, the
source to be attributed where they are shown). A city's zones take theirs from a GeoJSON file of its own
(``PUT /api/v1/zones/{zone}``; the simulated city from ``simulators/suwon-districts.geojson``), cut by::

    python -m tools.boundaries ../shared/data/korea-admin/skorea-municipalities-2018-topo.json \\
        31011=jangan 31012=gwonseon 31013=paldal 31014=yeongtong > simulators/suwon-districts.geojson

Each feature keeps the source's Korean name, English name and administrative code, adds the zone it is,
and carries the attribution; coordinates are rounded to 5 decimals (about a metre).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

ATTRIBUTION = "경계: 통계청 SGIS (2018), 공공누리 제1유형 (KOGL Type 1)"
DIGITS = 5


def arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """The topology's arcs as longitude/latitude points (quantized arcs are delta-encoded)."""
    t = topology.get("transform")
    out = []
    for arc in topology["arcs"]:
        if t is None:
            out.append([(float(p[0]), float(p[1])) for p in arc])
            continue
        (sx, sy), (tx, ty) = t["scale"], t["translate"]
        x = y = 0
        points = []
        for dx, dy, *_ in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        out.append(points)
    return out


def ring(indices: Sequence[int], decoded: list[list[tuple[float, float]]]) -> list[list[float]]:
    """A closed ring from its arcs (a negative index ``~i`` is arc ``i`` reversed); each arc after the
    first starts where the last ended, so its first point is left out."""
    points: list[tuple[float, float]] = []
    for k, i in enumerate(indices):
        arc = decoded[i] if i >= 0 else decoded[~i][::-1]
        points.extend(arc if k == 0 else arc[1:])
    return [[round(x, DIGITS), round(y, DIGITS)] for x, y in points]


def geometry(g: dict[str, Any], decoded: list[list[tuple[float, float]]]) -> dict[str, Any]:
    if g["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": [ring(r, decoded) for r in g["arcs"]]}
    if g["type"] == "MultiPolygon":
        return {"type": "MultiPolygon", "coordinates": [[ring(r, decoded) for r in p] for p in g["arcs"]]}
    raise ValueError(f"a district is a Polygon or a MultiPolygon, not a {g['type']}")


def cut(topology: dict[str, Any], zones: dict[str, str]) -> dict[str, Any]:
    """The districts whose administrative codes are ``zones``' keys, as a FeatureCollection, each feature
    with the zone (``zone_id``) it is; a code the topology lacks is an error naming it."""
    decoded = arcs(topology)
    found: dict[str, dict[str, Any]] = {}
    for obj in topology["objects"].values():
        for g in obj.get("geometries", []):
            code = str(g.get("properties", {}).get("code"))
            if code in zones:
                props = {**g["properties"], "zone_id": zones[code], "attribution": ATTRIBUTION}
                found[code] = {"type": "Feature", "properties": props, "geometry": geometry(g, decoded)}
    missing = [c for c in zones if c not in found]
    if missing:
        raise ValueError(f"no district with code {', '.join(missing)} in the topology")
    return {"type": "FeatureCollection", "features": [found[c] for c in zones]}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or any("=" not in a for a in args[1:]):
        print(
            "usage: python -m tools.boundaries TOPOJSON CODE=ZONE [CODE=ZONE ...] > districts.geojson",
            file=sys.stderr,
        )
        return 2
    topology = orjson.loads(Path(args[0]).read_bytes())
    zones = dict(a.split("=", 1) for a in args[1:])
    try:
        out = cut(topology, zones)
    except ValueError as e:
        print(f"boundaries: {e}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(orjson.dumps(out) + b"\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
