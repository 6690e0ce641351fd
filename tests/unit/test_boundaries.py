"""District outlines cut from the national TopoJSON (tools/boundaries.py), and the simulated city's."""

from __future__ import annotations

import orjson
import pytest
from geojson_pydantic import FeatureCollection

from simulators.provision import DISTRICTS, boundaries
from tests.support import SHARED_DATA, needs_data
from tools.boundaries import ATTRIBUTION, cut, main

# two squares sharing an edge, quantized and delta-encoded as TopoJSON writes them
TOPOLOGY = {
    "type": "Topology",
    "transform": {"scale": [0.5, 0.25], "translate": [127.0, 37.0]},
    "arcs": [
        [[2, 0], [0, 4]],  # the shared edge, upwards: (128, 37) -> (128, 38)
        [[2, 4], [-2, 0], [0, -4], [2, 0]],  # the west square's other sides
        [[2, 0], [2, 0], [0, 4], [-2, 0]],  # the east square's other sides
    ],
    "objects": {"d": {"type": "GeometryCollection", "geometries": [
        {"type": "Polygon", "arcs": [[0, 1]], "properties": {"code": "1", "name": "서쪽구"}},
        {"type": "MultiPolygon", "arcs": [[[2, -1]]], "properties": {"code": "2", "name": "동쪽구"}},
    ]}},
}  # fmt: skip


def test_arcs_are_decoded_joined_and_reversed_into_closed_rings() -> None:
    out = cut(TOPOLOGY, {"1": "west", "2": "east"})
    FeatureCollection(**out)  # valid GeoJSON: rings closed, four points at least
    west, east = out["features"]
    assert west["properties"] == {
        "code": "1",
        "name": "서쪽구",
        "zone_id": "west",
        "attribution": ATTRIBUTION,
    }
    assert west["geometry"]["coordinates"] == [
        [[128.0, 37.0], [128.0, 38.0], [127.0, 38.0], [127.0, 37.0], [128.0, 37.0]]
    ]
    # the east square walks the shared edge the other way (arc ~0): downwards, without repeating its start
    assert east["geometry"]["coordinates"] == [
        [[[128.0, 37.0], [129.0, 37.0], [129.0, 38.0], [128.0, 38.0], [128.0, 37.0]]]
    ]


def test_a_code_the_topology_lacks_is_named(capsys: pytest.CaptureFixture[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="no district with code 9"):
        cut(TOPOLOGY, {"1": "west", "9": "nowhere"})
    src = tmp_path / "t.json"
    src.write_bytes(orjson.dumps(TOPOLOGY))
    assert main([str(src), "9=nowhere"]) == 1 and "no district with code 9" in capsys.readouterr().err
    assert main([str(src)]) == 2  # usage


def test_the_simulated_city_has_suwons_four_districts() -> None:
    zones = boundaries()
    assert sorted(zones) == ["gwonseon", "jangan", "paldal", "yeongtong"]
    assert all(
        z["attribution"] == ATTRIBUTION and z["boundary"]["type"] == "MultiPolygon" for z in zones.values()
    )


@needs_data(SHARED_DATA / "korea-admin" / "skorea-municipalities-2018-topo.json", "the national boundaries")
def test_the_packaged_districts_are_what_the_script_cuts_from_the_national_boundaries() -> None:
    topology = orjson.loads(
        (SHARED_DATA / "korea-admin" / "skorea-municipalities-2018-topo.json").read_bytes()
    )
    zones = {"31011": "jangan", "31012": "gwonseon", "31013": "paldal", "31014": "yeongtong"}
    assert cut(topology, zones) == orjson.loads(DISTRICTS.read_bytes())
