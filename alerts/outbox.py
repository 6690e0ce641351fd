"""Deliver committed notifications (the outbox) to live consumers.

A notification is marked delivered only once its sink accepted it; a sink that
fails is retried on the next pass with its error recorded, and never blocks
the engine (the engine only writes rows; this runs after the commit).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
import psycopg

log = logging.getLogger(__name__)

Sink = Callable[[str, bytes], None]  # (kind, payload) -> raises on failure


def drain(conn: psycopg.Connection[Any], sink: Sink, limit: int = 500) -> int:
    """Deliver up to ``limit`` pending notifications in order; returns how many were delivered."""
    rows = conn.execute(
        "SELECT o.id, a.kind, o.payload FROM alert_outbox o JOIN alerts a ON a.id = o.alert_id"
        " WHERE o.delivered_at IS NULL ORDER BY o.id LIMIT %s",
        (limit,),
    ).fetchall()
    delivered = 0
    for oid, kind, payload in rows:
        try:
            sink(kind, orjson.dumps(payload))
        except Exception as e:  # the sink is down: keep it pending, say why, try again later
            conn.execute(
                "UPDATE alert_outbox SET attempts = attempts + 1, last_error = %s WHERE id = %s",
                (f"{type(e).__name__}: {e}"[:500], oid),
            )
            log.warning("notification %d not delivered (%s); will retry", oid, e)
            break  # keep order: later notifications wait for this one
        conn.execute(
            "UPDATE alert_outbox SET delivered_at = now(), attempts = attempts + 1 WHERE id = %s", (oid,)
        )
        delivered += 1
    return delivered
