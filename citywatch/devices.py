"""Device registry access shared by the services (broker accounts, lookups)."""

from __future__ import annotations

import psycopg

from citywatch.broker import DeviceAccount
from citywatch.contracts.topics import DeviceKind


def broker_accounts(conninfo: str) -> list[DeviceAccount]:
    """Active devices with their credential version, for the broker's password file and ACL."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT device_id, kind, credential_version FROM devices WHERE status = 'active' ORDER BY device_id"
        ).fetchall()
    return [DeviceAccount(d, DeviceKind(k), v) for d, k, v in rows]
