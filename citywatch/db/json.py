"""JSON parameters with orjson: a connection's ``Jsonb`` values (alert explanations, the analytics' saved
state) serialised by orjson instead of the standard library's encoder (about a tenth of its time; numpy
numbers as numbers, dict keys that are not strings as strings)."""

from __future__ import annotations

from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_dumps

OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, option=OPTIONS)


def connect(conninfo: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """``psycopg.connect`` whose JSON parameters orjson serialises."""
    conn = psycopg.connect(conninfo, **kwargs)
    set_json_dumps(_dumps, conn)
    return conn
