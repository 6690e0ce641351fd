"""Personal data kept only as long as allowed.

* Licence plates read by CCTV analytics (``cctv_events.plate``) are erased
  ``CITYWATCH_PRIVACY_PLATE_RETENTION_H`` after their event; the event itself
  (type, zone, time, counts) stays for statistics.
* CCTV event metadata is dropped after ``CITYWATCH_PRIVACY_CCTV_RETENTION_DAYS``
  (a retention policy on the TSL edition, ``citywatch db retention`` on Apache).

The analytics service erases plates as part of its citywide work (every few
minutes); ``citywatch db retention`` does it too.
"""

from __future__ import annotations

from typing import Any

import psycopg


def erase_plates(conn: psycopg.Connection[Any], older_than_h: float) -> int:
    """Erase the plates of events older than ``older_than_h`` hours; how many were erased."""
    cur = conn.execute(
        "UPDATE cctv_events SET plate = NULL WHERE plate IS NOT NULL"
        " AND time < now() - make_interval(secs => %s)",
        (older_than_h * 3600,),
    )
    return cur.rowcount
