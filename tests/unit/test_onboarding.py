"""Bulk device import (pure): rows from CSV, JSON and GeoJSON, each a registration or refused with its row
and every reason."""

from __future__ import annotations

import json

import pytest

from api.onboarding import Unreadable, placed, rows_of, validate
from citywatch.i18n import render

CSV = """device_id,kind,name,lat,lon,zone_id,expected_interval_s,meta.instruments,meta.model
aq-001,aq,종로구 도시대기,37.572,127.005,jongno,3600,"{""o3"": {""full_scale"": 0.5}}",T640
aq-002,aq,중구,37.564,126.975,jung,3600,,
bad id!,aq,x,,,,,,
aq-003,toaster,x,,,,,,
aq-004,aq,x,91,0,,,,
aq-001,aq,again,,,,,,
aq-005,aq,x,,,,,"{""o3"": {""full_scale"": 0}}",
"""


def test_a_csv_of_stations_with_their_analysers_and_every_refusal_with_its_row_and_reasons() -> None:
    parsed = validate(rows_of("text/csv; charset=utf-8", ("\ufeff" + CSV).encode()))
    assert [(i, d.device_id) for i, d in parsed.devices] == [(1, "aq-001"), (2, "aq-002")]
    first = parsed.devices[0][1]
    assert first.meta == {"instruments": {"o3": {"full_scale": 0.5}}, "model": "T640"}
    assert first.name == "종로구 도시대기" and first.expected_interval_s == 3600
    refused = {r.row: (r.device_id, [render(t) for t in r.errors]) for r in parsed.refused}
    assert sorted(refused) == [3, 4, 5, 6, 7]
    assert refused[3][1][0].startswith("device_id:")
    assert refused[4][1][0].startswith("kind:")
    assert refused[5][1][0].startswith("lat:")
    assert refused[6] == ("aq-001", ["device_id: also in row 1"])
    assert "full_scale" in " ".join(refused[7][1])


def test_a_geojson_layer_of_points_and_a_json_list() -> None:
    layer = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [126.83, 37.31]},
             "properties": {"device_id": "pk-1", "kind": "parking", "name": "P1", "lot_id": "lot-01"}},
            {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[126.8, 37.3], [126.9, 37.4]]},
             "properties": {"device_id": "pk-2", "kind": "parking", "name": "P2"}},
        ],
    }  # fmt: skip
    parsed = validate(rows_of("application/geo+json", json.dumps(layer).encode()))
    assert [(d.device_id, d.lat, d.lon) for _i, d in parsed.devices] == [("pk-1", 37.31, 126.83)]
    assert parsed.refused[0].row == 2 and "not a LineString" in render(parsed.refused[0].errors[0])
    as_list = validate(rows_of("application/json", b'[{"device_id": "cam-1", "kind": "cctv", "name": "C1"}]'))
    assert [d.device_id for _i, d in as_list.devices] == ["cam-1"] and as_list.refused == []


@pytest.mark.parametrize(
    ("content_type", "body", "why"),
    [
        ("application/json", b"{not json", "not JSON"),
        ("application/json", b'{"type": "Feature"}', "expected a JSON list"),
        (
            "application/json",
            b'{"type": "FeatureCollection", "features": 3}',
            "not a GeoJSON FeatureCollection",
        ),
        ("text/csv", b"\xff\xfe", "not UTF-8"),
    ],
)
def test_a_file_that_cannot_be_read_at_all_says_why(content_type: str, body: bytes, why: str) -> None:
    with pytest.raises(Unreadable, match=why):
        rows_of(content_type, body)


def test_rows_naming_a_missing_zone_or_lot_or_another_kind_are_refused_the_rest_kept() -> None:
    rows = [
        {"device_id": "aq-1", "kind": "aq", "name": "a", "zone_id": "z1"},
        {"device_id": "aq-2", "kind": "aq", "name": "b", "zone_id": "nowhere"},
        {"device_id": "pk-1", "kind": "parking", "name": "c", "lot_id": "no-lot"},
        {"device_id": "cam-1", "kind": "aq", "name": "d"},
    ]
    out = placed(validate(rows), zones={"z1"}, lots=set(), kinds={"cam-1": "cctv"})
    assert [(i, d.device_id) for i, d in out.devices] == [(1, "aq-1")]
    assert [(r.row, r.device_id, render(r.errors[0]).split(":")[0]) for r in out.refused] == [
        (2, "aq-2", "zone_id"),
        (3, "pk-1", "lot_id"),
        (4, "cam-1", "kind"),
    ]
