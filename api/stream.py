"""The live alert feed: every committed alert notification, in order, resumable.

Notifications are the rows of ``alert_outbox`` (ids become visible in commit
order; see ``alerts.store``). One LISTEN connection per API process wakes the
streams when ``citywatch_alerts`` is notified; each stream then reads the rows
after its cursor. A client that reconnects with ``Last-Event-ID`` (browsers do
this by themselves) or ``?after=`` gets exactly what it missed. If the listen
connection drops, streams still poll every few seconds while it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg

from alerts import queries
from alerts.model import Severity
from api.db import Database

log = logging.getLogger("citywatch.api.stream")


class AlertFeed:
    def __init__(self, db: Database, poll_s: float = 5.0) -> None:
        self.db = db
        self.poll_s = poll_s
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="alert-feed")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.db.conninfo, autocommit=True) as conn:
                    await conn.execute("LISTEN citywatch_alerts")
                    backoff = 0.5
                    self._wake()  # anything committed while we were not listening
                    async for _n in conn.notifies():
                        self._wake()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("alert feed lost its database connection (%s); retrying in %.1fs", e, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def wait(self) -> None:
        """Until something may have changed (or the poll interval passed)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), self.poll_s)

    def head(self) -> int:
        return queries.outbox_head(self.db)

    def after(self, cursor: int, limit: int = 500) -> list[dict[str, Any]]:
        return queries.outbox_after(self.db, cursor, limit)


def matches(
    payload: dict[str, Any], kinds: list[str] | None, min_severity: str | None, subjects: list[str] | None
) -> bool:
    if kinds and payload.get("kind") not in kinds:
        return False
    if subjects and payload.get("subject") not in subjects:
        return False
    if not min_severity:
        return True
    seen = Severity.__members__.get(str(payload.get("severity", "")).upper())
    return seen is not None and seen >= Severity[min_severity.upper()]
