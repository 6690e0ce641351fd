"""The event streams' step: CCTV analytics events and parking-space readings, from the stored rows to
alert events through their rules (:mod:`analytics.cctv`, :mod:`analytics.parking`).

Rows are read without waiting for the lateness: newer than the stream's time cursor, or received since
the last look (late arrivals). On the first look the rules rebuild their state from a warm-up of history
(alert replays are no-ops).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from analytics.cctv import CctvEvent, CctvRules
from analytics.lot_counter import CountReading
from analytics.parking import ParkingRules, SpaceReading
from analytics.registry import StepContext

# within a batch of parking events, the rules look at the clock this often
PARKING_TICK = timedelta(minutes=5)

Tick = Callable[[datetime, int, bool], None]  # (up to when, rows done, finished): a re-evaluation's progress


def _quiet(upto: datetime, n: int, last: bool) -> None:
    """A live step tells nobody how far it got."""


class EventStreams:
    def __init__(self, ctx: StepContext) -> None:
        self.conn, self.alerts, self.registry, self.rules = ctx.conn, ctx.alerts, ctx.registry, ctx.rules
        self.cctv = CctvRules(ctx.rules().cctv, ctx.tz)
        self.parking = ParkingRules({}, ctx.rules().parking, ctx.tz)
        self.stream_cursor: dict[str, datetime] = {}
        self.received_cursor: dict[str, datetime] = {}
        self._cameras_off_at = float("-inf")
        self._cameras_off_set: set[str] = set()

    def configure(self) -> None:
        """The rules or the registry changed: the city's settings, and the cameras and parking sensors
        with settings of their own (the rules file's ``zones`` and ``devices``)."""
        rules = self.rules()
        self.cctv.cfg, self.parking.cfg = rules.cctv, rules.parking
        for rules_of, domain, kind in ((self.cctv, "cctv", "cctv"), (self.parking, "parking", "parking")):
            rules_of.overrides = {
                dev: rules.settings_for(domain, zone, dev)
                for dev, (k, zone) in self.registry.device_zone.items()
                if k == kind and rules.has_own(domain, zone, dev)
            }

    def rewind(self, start: datetime) -> None:
        """Re-evaluate from ``start`` (a backfill): each stream from there unless it is already further back."""
        for stream in ("cctv", "parking", "parking_counts"):
            if stream not in self.stream_cursor or self.stream_cursor[stream] > start:
                self.stream_cursor[stream] = start

    def _new_rows(
        self, stream: str, sql: str, cursor: datetime | None, safe: datetime, now: datetime, warmup: timedelta
    ) -> list[Any]:
        if stream not in self.stream_cursor:
            self.stream_cursor[stream] = min(cursor or safe, safe) - warmup
        tc, rc = self.stream_cursor[stream], self.received_cursor.get(stream)
        rows = (
            self.conn()
            .execute(
                sql,
                {"tc": tc, "rc": rc, "now": now, "late": tc - timedelta(hours=1), "zone": self.registry.zone},
            )
            .fetchall()
        )
        if rows:
            self.stream_cursor[stream] = max(tc, max(r[0] for r in rows))
            self.received_cursor[stream] = max([r[-1] for r in rows] + ([rc] if rc else []))
        return rows

    def cctv_step(
        self, cursor: datetime | None, safe: datetime, now: datetime, live: bool = True, tick: Tick = _quiet
    ) -> None:
        """The CCTV events since the stream's cursor; ``tick``: told how far it got (a re-evaluation)."""
        zone = self.registry.zone
        rows = self._new_rows(
            "cctv",
            "SELECT e.time, e.device_id, e.event_type, e.confidence, e.zone, coalesce(d.meta->>'area', ''),"
            " e.object_count, e.received_at FROM cctv_events e LEFT JOIN devices d USING (device_id)"
            " WHERE e.time <= %(now)s AND (e.time > %(tc)s OR (e.received_at > %(rc)s AND e.time > %(late)s))"
            + (" AND coalesce(d.zone_id, '') = %(zone)s" if zone is not None else "")
            + " ORDER BY e.time",
            cursor,
            safe,
            now,
            timedelta(hours=6),
        )
        self.cctv.offline = self._cameras_off() if live else set()  # a re-evaluated range: not known then
        for i, (t, cam, etype, conf, ev_zone, area, count, _r) in enumerate(rows, 1):
            self.alerts.apply_all(
                [
                    *self.cctv.tick(t),
                    *self.cctv.on_event(CctvEvent(cam, t, etype, conf, ev_zone, area, count)),
                ]
            )
            tick(t, i, False)
        self.alerts.apply_all(self.cctv.tick(now))
        tick(min(now, safe), len(rows), True)

    def _cameras_off(self, every_s: float = 15.0) -> set[str]:
        """The cameras (of this partition) whose newest status is their Last Will, read at most every
        ``every_s``: a silent camera that is off is explained by its device alert, not a fault of its own."""
        t = time.monotonic()
        if t - self._cameras_off_at >= every_s:
            self._cameras_off_at = t
            zone = self.registry.zone
            rows = (
                self.conn()
                .execute(
                    "SELECT d.device_id FROM devices d JOIN LATERAL (SELECT status FROM device_status ds"
                    " WHERE ds.device_id = d.device_id ORDER BY time DESC, received_at DESC LIMIT 1) st ON true"
                    " WHERE d.kind = 'cctv' AND d.status = 'active' AND st.status = 'offline'"
                    + (" AND coalesce(d.zone_id, '') = %(zone)s" if zone is not None else ""),
                    {"zone": zone},
                )
                .fetchall()
            )
            self._cameras_off_set = {r[0] for r in rows}
        return self._cameras_off_set

    def _lot_rows(
        self, stream: str, table: str, columns: str, cursor: datetime | None, safe: datetime, now: datetime
    ) -> list[Any]:
        """A parking table's new rows (time, device, ``columns``, received), of this partition's lots."""
        return self._new_rows(
            stream,
            f"SELECT time, device_id, {columns}, received_at FROM {table}"
            " WHERE time <= %(now)s AND (time > %(tc)s OR (received_at > %(rc)s AND time > %(late)s))"
            + (
                " AND lot_id IN (SELECT lot_id FROM parking_lots WHERE coalesce(zone_id, '') = %(zone)s)"
                if self.registry.zone is not None
                else ""
            )
            + " ORDER BY time",
            cursor,
            safe,
            now,
            timedelta(hours=26),
        )

    def parking_step(
        self, cursor: datetime | None, safe: datetime, now: datetime, tick: Tick = _quiet
    ) -> None:
        """The parking events since the stream's cursor; ``tick``: told how far it got (a re-evaluation)."""
        lots = (
            self.conn().execute("SELECT lot_id, capacity, coalesce(zone_id, '') FROM parking_lots").fetchall()
        )
        self.parking.capacity = {lot: capacity for lot, capacity, _zone in lots}
        self.parking.counters.zone_of = {lot: zone for lot, _capacity, zone in lots}
        rows = self._lot_rows("parking", "parking_events", "lot_id, occupied, battery_pct", cursor, safe, now)
        counts = self._lot_rows(
            "parking_counts",
            "parking_counts",
            "lot_id, occupied, capacity, entries, exits",
            cursor,
            safe,
            now,
        )
        # spaces' states and counters' counts, in time order (a space's first at equal times)
        merged = sorted([(r[0], 0, r) for r in rows] + [(r[0], 1, r) for r in counts], key=lambda x: x[:2])
        ticked = merged[0][0] if merged else now
        for i, (t, counter, row) in enumerate(merged, 1):
            if t - ticked >= PARKING_TICK:  # a backfill's hours pass in event time: stuck sensors, off-delays
                self.alerts.apply_all(self.parking.tick(t))
                ticked = t
            if counter:
                _t, dev, lot, occupied, capacity, entries, exits, _r = row
                self.alerts.apply_all(
                    self.parking.on_count(CountReading(dev, lot, t, occupied, capacity, entries, exits))
                )
            else:
                _t, dev, lot, occupied, battery, _r = row
                self.alerts.apply_all(self.parking.on_reading(SpaceReading(dev, lot, t, occupied, battery)))
            tick(t, i, False)
        self.alerts.apply_all(self.parking.tick(now))
        tick(min(now, safe), len(merged), True)
