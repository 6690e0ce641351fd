"""Device registry access shared by the services (broker accounts, lookups)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

from citywatch.broker import DeviceAccount
from citywatch.contracts.topics import DeviceKind

log = logging.getLogger(__name__)


def broker_accounts(conninfo: str) -> list[DeviceAccount]:
    """Active devices with their credential version, for the broker's password file and ACL."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT device_id, kind, credential_version FROM devices WHERE status = 'active' ORDER BY device_id"
        ).fetchall()
    return [DeviceAccount(d, DeviceKind(k), v) for d, k, v in rows]


class RegistryWatcher:
    """Calls ``on_change`` whenever the API changes the registry (``NOTIFY citywatch_registry``), so the
    broker's password file and ACL follow registrations, credential rotations and retirements at once."""

    def __init__(self, conninfo: str, on_change: Callable[[], None]) -> None:
        self.conninfo = conninfo
        self.on_change = on_change
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute("LISTEN citywatch_registry")
                    while not self._stop.is_set():
                        if list(conn.notifies(timeout=1.0, stop_after=1)):
                            list(conn.notifies(timeout=0.2))  # coalesce a burst of changes
                            self.on_change()
                            log.info("device registry changed: broker accounts rewritten")
            except Exception as e:  # keep watching through database restarts
                log.warning("registry watcher: %s; retrying", e)
                self._stop.wait(2.0)
