"""Helpers shared by the routes: time ranges, opaque cursors, audit, CSV."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from api.db import Database
from api.problems import Problem
from citywatch.i18n import Text


def utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def time_range(
    start: datetime | None, end: datetime | None, default: timedelta, max_days: int
) -> tuple[datetime, datetime]:
    """[start, end) in UTC; naive times are read as UTC. Defaults to the last ``default``."""
    end = utc(end) if end else datetime.now(UTC)
    start = utc(start) if start else end - default
    if end <= start:
        raise Problem(
            422,
            Text("error.range.order"),
            errors=[{"field": "query.end", "message": Text("error.range.order")}],
        )
    if end - start > timedelta(days=max_days):
        raise Problem(
            422,
            long := Text("error.range.long", {"days": max_days}),
            errors=[{"field": "query.start", "message": long}],
        )
    return start, end


def encode_cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(
        orjson.dumps([p.isoformat() if isinstance(p, datetime) else p for p in parts])
    ).decode()


def decode_cursor(cursor: str, n: int) -> list[Any]:
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(parts, list) or len(parts) != n:
            raise ValueError
        return parts
    except (ValueError, orjson.JSONDecodeError, TypeError):
        raise Problem(
            422,
            Text("error.cursor"),
            errors=[{"field": "query.cursor", "message": Text("error.cursor")}],
        ) from None


def audit(db: Database, actor: str, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    db.one(
        "INSERT INTO api_audit (actor, action, target, detail) VALUES (%s, %s, %s, %s) RETURNING id",
        (actor, action, target, Jsonb(detail or {})),
    )


#: what the CSV exports are served as: UTF-8 with its byte-order mark, which spreadsheet software in a
#: Korean locale needs to read Hangul as Hangul rather than as the system's legacy code page
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def csv_stream(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """A CSV, streamed: the byte-order mark, the header, then the rows in chunks of a thousand."""
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf)
    w.writerow(header)
    for i, row in enumerate(rows, 1):
        w.writerow([v.isoformat() if isinstance(v, datetime) else v for v in row])
        if i % 1000 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
