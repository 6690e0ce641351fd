"""Onboarding a city's devices in bulk (pure): rows from CSV, JSON or GeoJSON, each validated as one
registration, and what became of each.

A city moving to citywatch brings thousands of devices in a spreadsheet or a GIS layer. Each row is a
:class:`~api.schemas.devices.DeviceIn` (``device_id``, ``kind``, ``name``, ``lat``, ``lon``, ``zone_id``,
``lot_id``, ``expected_interval_s``; CSV columns ``meta.*`` go into ``meta``, ``meta.instruments`` as
JSON); a GeoJSON Feature's Point gives ``lon``/``lat`` and its properties the rest. A row that is not a
valid registration is refused with its row number and every reason; the others are registered,
updated where they changed, and left alone where they did not — so importing the same file again
changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from geojson_pydantic import FeatureCollection, Point
from pydantic import ValidationError

from api.problems import invalid
from api.schemas.devices import DeviceIn
from citywatch.i18n import Text, render

MAX_ROWS = 20_000
ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # zones' and lots' ids, as devices'


class Unreadable(ValueError):
    """The file as a whole cannot be read (no row can be): :attr:`text` says why, in any language."""

    def __init__(self, text: Text) -> None:
        super().__init__(render(text))
        self.text = text


@dataclass(frozen=True, slots=True)
class Refused:
    row: int  # 1-based, as a spreadsheet counts its data rows
    device_id: str | None
    errors: list[Text]  # each "field: why", readable in any language


@dataclass
class Parsed:
    devices: list[tuple[int, DeviceIn]] = field(default_factory=list)  # (row, its registration)
    refused: list[Refused] = field(default_factory=list)


def _errors(e: ValidationError) -> list[Text]:
    return [
        Text("import.field", {"field": ".".join(str(x) for x in err["loc"]) or "row", "why": invalid(err)})
        for err in e.errors()
    ]


def _csv_rows(text: str) -> list[dict[str, Any]]:
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        row: dict[str, Any] = {}
        meta: dict[str, Any] = {}
        for k, v in raw.items():
            if k is None or v is None or v == "":
                continue  # an empty cell is no value
            k = k.strip()
            if k.startswith("meta."):
                key = k.removeprefix("meta.")
                meta[key] = json.loads(v) if key == "instruments" else v
            else:
                row[k] = v.strip()
        if meta:
            row["meta"] = meta
        rows.append(row)
    return rows


def _geojson_rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    try:
        features: list[Any] = list(FeatureCollection.model_validate(doc).features)
    except ValidationError as e:
        said = "; ".join(render(t) for t in _errors(e)[:3])
        raise Unreadable(Text("import.not_geojson", {"errors": said})) from None
    rows = []
    for f in features:
        row = dict(f.properties or {})
        if isinstance(f.geometry, Point):
            row["lon"], row["lat"] = f.geometry.coordinates[0], f.geometry.coordinates[1]
        elif f.geometry is not None:
            row["_geometry"] = f.geometry.type  # refused below: a device is a point
        rows.append(row)
    return rows


def rows_of(content_type: str, body: bytes) -> list[dict[str, Any]]:
    """The rows of an upload: ``text/csv``, a JSON list of rows, or a GeoJSON FeatureCollection."""
    try:
        text = body.decode("utf-8-sig")  # spreadsheets save CSV with a byte-order mark
    except UnicodeDecodeError:
        raise Unreadable(Text("import.not_utf8")) from None
    if content_type.split(";")[0].strip() in ("text/csv", "application/csv"):
        rows = _csv_rows(text)
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise Unreadable(Text("import.not_json", {"error": str(e)})) from None
        if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
            rows = _geojson_rows(doc)
        elif isinstance(doc, list) and all(isinstance(r, dict) for r in doc):
            rows = doc
        else:
            raise Unreadable(Text("import.not_a_list"))
    if len(rows) > MAX_ROWS:
        raise Unreadable(Text("import.too_many", {"n": len(rows), "max": MAX_ROWS}))
    return rows


def validate(rows: Iterable[Mapping[str, Any]]) -> Parsed:
    """Each row as a registration, or refused with every reason (a device id twice: the later refused)."""
    out = Parsed()
    seen: dict[str, int] = {}
    for i, row in enumerate(rows, 1):
        device_id = str(row["device_id"]) if row.get("device_id") is not None else None
        if "_geometry" in row:
            out.refused.append(Refused(i, device_id, [Text("import.geometry", {"type": row["_geometry"]})]))
            continue
        try:
            d = DeviceIn.model_validate(dict(row))
        except ValidationError as e:
            out.refused.append(Refused(i, device_id, _errors(e)))
            continue
        if d.device_id in seen:
            out.refused.append(Refused(i, d.device_id, [Text("import.twice", {"row": seen[d.device_id]})]))
            continue
        seen[d.device_id] = i
        out.devices.append((i, d))
    return out


def placed(parsed: Parsed, zones: set[str], lots: set[str], kinds: Mapping[str, str]) -> Parsed:
    """``parsed`` with the rows naming a zone or lot that does not exist, or re-registering a device as
    another kind (``kinds``: the registered devices' kinds), refused."""
    out = Parsed(refused=list(parsed.refused))
    for i, d in parsed.devices:
        why = []
        if d.zone_id is not None and d.zone_id not in zones:
            why.append(Text("import.zone", {"zone": d.zone_id}))
        if d.lot_id is not None and d.lot_id not in lots:
            why.append(Text("import.lot", {"lot": d.lot_id}))
        if d.device_id in kinds and kinds[d.device_id] != d.kind.value:
            why.append(
                Text("import.kind", {"device": d.device_id, "was": kinds[d.device_id], "now": d.kind.value})
            )
        if why:
            out.refused.append(Refused(i, d.device_id, why))
        else:
            out.devices.append((i, d))
    out.refused.sort(key=lambda r: r.row)
    return out
