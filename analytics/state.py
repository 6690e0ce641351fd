"""What the analytics keep across restarts, in ``analytics_state`` rows: per partition, the cursor and
the air-quality step's models (zone quality, advisories, seasonal baselines, minutes done); the shape
detectors in a row of their own (written only when an hour taught them something); and which rules
text is in force (for the API's rules view)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from analytics.config import IN_FORCE, RulesFile

#: the whole city's row; a partition's is ``{STATE_KEY}:{partition}``, the shapes' ``{row}:shapes``
STATE_KEY = "analytics:v1"


#: the offline rule's settings the analytics run with, read by the database's device_health() (0018)
HEALTH_KEY = "analytics:v1:health"


def key_for(partition: str | None) -> str:
    return STATE_KEY if partition is None else f"{STATE_KEY}:{partition}"


def read(conn: psycopg.Connection[Any], name: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT state FROM analytics_state WHERE name = %s", (name,)).fetchone()
    return row[0] if row else None


def write(conn: psycopg.Connection[Any], name: str, state: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO analytics_state (name, state) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE"
        " SET state = excluded.state, updated_at = now()",
        (name, Jsonb(state)),
    )


def report_rules(conn: psycopg.Connection[Any], rules_file: RulesFile, refused: str | None = None) -> None:
    """Say which rules text is in force here (and why an edit was refused), for the API's rules view."""
    write(
        conn,
        IN_FORCE,
        {
            "digest": rules_file.digest,
            "path": str(rules_file.path) if rules_file.path else None,
            "refused": refused,
            "at": datetime.now(UTC).isoformat(),
        },
    )
