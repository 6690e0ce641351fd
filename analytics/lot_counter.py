"""Garages that count: a barrier-gate counter's reports -> alert events (pure).

A multi-storey garage reports "occupied N of capacity C" every few minutes (``ParkingLotCount``), often
with the cars in and out since its previous report. Its faults are the counter's, not a space's:

* ``parking.count_range`` — a count below zero or above the capacity, by more than the counting slack
  every gate counter has (``range_margin`` of the capacity, at least 2 cars): a classic counter fault (a
  missed exit loop counts up for ever; a garage publishing more free spaces than it has). Clears once
  the count has stayed within range for ``range_clear_s`` (and two reports), so a counter hovering at the
  edge is one alert, not one per crossing.
* ``parking.count_stuck`` — no change while the lot's own history says it moves: the count has not
  changed over at least ``stuck_moving_h`` hours of the week in which it changed in most past weeks
  (at least ``history_min`` of them); without that much history, after ``stuck_s`` (a day). The history
  learns nothing while a fault of the counter is live, so months of a stuck counter never become its
  normal. A lot that is full and stays full is stuck only by the same measure.
* ``parking.count_jump`` — more cars in or out between two reports than its gates can pass (they fill
  or empty it in no less than ``fill_h``; at least ``jump_min`` cars). Clears after an hour without one.
  A jump at a time of day at which the lot's count jumped on ``routine_days`` of the past seven days
  (within ``routine_min``) is its routine — a garage that publishes a fixed count while closed, a
  counter reset at opening — and is not raised again. A jump is held ``together_s``: where at least
  ``together_min`` lots of a zone, and ``together_share`` of its counted lots, jumped within it, that is
  their counts' common source (the operator's parking server, the feed), not each counter: one
  ``parking.counts_jumped`` alert for the zone naming the lots, and none of their own; it clears after
  an hour without, and those lots' counts are not taken as their occupancy meanwhile.
* ``parking.count_unbalanced`` — the change of the count is not the cars in minus the cars out, by more
  than ``balance_tolerance`` (and 5 % of the traffic), ``balance_run`` reports running. Clears after as
  many balanced ones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.model import AlertEvent, Severity, alert
from analytics.conditions import Conditions
from citywatch.i18n import Text, at, place
from citywatch.localtime import SEOUL, hour_of_week


@dataclass(frozen=True, slots=True)
class CountReading:
    device: str
    lot: str
    time: datetime
    occupied: int
    capacity: int
    entries: int | None = None
    exits: int | None = None


@dataclass(frozen=True, slots=True)
class CounterConfig:
    range_margin: float = 0.05  # a count this share beyond 0 or the capacity (at least 2 cars): out of range
    range_clear_s: float = 3600  # back within range this long (two reports at least) clears it
    stuck_s: float = 24 * 3600  # unchanged this long, where there is no history to go by
    stuck_moving_h: int = 3  # unchanged over this many hours in which the lot usually moves
    history_weeks: int = 8
    history_min: int = 2  # weeks of an hour of the week before it says whether the lot moves then
    fill_h: float = 1.0  # the gates fill (or empty) the garage in no less than this
    jump_min: int = 50
    balance_tolerance: int = 3
    balance_run: int = 3
    routine_days: int = 3  # a jump at a time of day the lot jumped at on this many of the past 7 days ...
    routine_min: float = 30.0  # ... within this many minutes: the lot's routine, not a fault
    together_s: float = 300.0  # jumps of several lots within this long of each other are judged together
    together_min: int = 3  # ... at least this many lots of a zone ...
    together_share: float = 1 / 3  # ... and this share of its counted lots: their common source's

    def in_range(self, occupied: int, capacity: int) -> bool:
        """A count within 0 and the capacity, give or take the counting slack every gate counter has."""
        slack = max(2, self.range_margin * capacity)
        return -slack <= occupied <= capacity + slack


@dataclass
class _Lot:
    last: CountReading
    changed_at: datetime
    jump_at: datetime | None = None
    unbalanced: int = 0
    balanced: int = 0
    sampled: datetime | None = None  # the hour last recorded in the history
    in_range_since: datetime | None = None  # under a range alert: since when the count is back within range
    in_range_n: int = 0
    jumps: deque[datetime] = field(default_factory=lambda: deque(maxlen=64))  # the count's past jumps


RULES = ("parking.count_range", "parking.count_stuck", "parking.count_jump", "parking.count_unbalanced")
TOGETHER = "parking.counts_jumped"


@dataclass(frozen=True, slots=True)
class _Held:
    """A jump held until it is known whether other lots jumped with it."""

    reading: CountReading
    prev: CountReading
    limit: float


@dataclass
class LotCounters:
    config: CounterConfig = field(default_factory=CounterConfig)
    tz: ZoneInfo = SEOUL
    lots: dict[str, _Lot] = field(default_factory=dict)
    # (lot, hour of week) -> did the count change in that hour, in past weeks
    moves: dict[tuple[str, int], deque[bool]] = field(default_factory=dict)
    conditions: Conditions = field(default_factory=Conditions)
    zone_of: dict[str, str] = field(default_factory=dict)  # lot -> its zone ("" without one)
    held: list[_Held] = field(default_factory=list)  # jumps not yet raised, oldest first
    # zone -> when its lots last jumped together, and the lots of its live alert
    together: dict[str, tuple[datetime, set[str]]] = field(default_factory=dict)

    def faulty(self, lot: str) -> bool:
        """A fault of the lot's counter (or of the counts it jumped with) is live, or its jump is being
        judged: its count says nothing of the lot."""
        return (
            any(f"{rule}:{lot}" in self.conditions for rule in RULES)
            or lot in self.together.get(self.zone_of.get(lot, ""), (None, ()))[1]
            or any(h.reading.lot == lot for h in self.held)
        )

    def occupancy(self, lot: str) -> tuple[int, int] | None:
        """(occupied, capacity) by the lot's counter; None without one, or while it is faulty."""
        st = self.lots.get(lot)
        if st is None or self.faulty(lot):
            return None
        return st.last.occupied, st.last.capacity

    def on_count(self, r: CountReading) -> list[AlertEvent]:
        st = self.lots.get(r.lot)
        if st is not None and r.time <= st.last.time:
            return []  # replayed, or older than the count taken
        out: list[AlertEvent] = []
        if st is None:
            st = self.lots[r.lot] = _Lot(r, r.time)
            prev = None
        else:
            prev = st.last
            self._record_hours(r.lot, st, r.time)
            if r.occupied != prev.occupied:
                st.changed_at = r.time
            st.last = r
        out += self._range(r, st)
        if prev is not None:
            out += self._jump(r, prev, st)
            out += self._balance(r, prev, st)
        out += self._stuck(r.lot, st, r.time)
        return [*self._release(r.time), *out]

    def tick(self, now: datetime) -> list[AlertEvent]:
        out = self._release(now)
        for zone, (when, _lots) in list(self.together.items()):
            if (now - when).total_seconds() >= 3600:
                del self.together[zone]
                out += self.conditions.clear(
                    f"{TOGETHER}:zone:{zone}", now, Text("clear.parking.counts_jumped")
                )
        for lot, st in self.lots.items():
            out += self._stuck(lot, st, now)
            if st.jump_at is not None and (now - st.jump_at).total_seconds() >= 3600:
                st.jump_at = None
                out += self.conditions.clear(
                    f"parking.count_jump:{lot}", now, Text("clear.parking.count_jump")
                )
        return out

    # -- the rules ---------------------------------------------------------
    def _range(self, r: CountReading, st: _Lot) -> list[AlertEvent]:
        cfg = self.config
        key = f"parking.count_range:{r.lot}"
        if cfg.in_range(r.occupied, r.capacity):
            if key not in self.conditions:
                return []
            st.in_range_since = st.in_range_since or r.time
            st.in_range_n += 1
            back = (r.time - st.in_range_since).total_seconds()
            if st.in_range_n < 2 or back < cfg.range_clear_s:
                return []
            return self.conditions.clear(
                key,
                r.time,
                Text(
                    "clear.parking.count_range",
                    {"capacity": r.capacity, "occupied": r.occupied, "hours": back / 3600},
                ),
            )
        st.in_range_since, st.in_range_n = None, 0
        times = r.occupied / r.capacity if r.capacity > 0 else float("inf")
        what = (
            Text("why.parking.count_range.negative", {"occupied": r.occupied})
            if r.occupied < 0
            else Text(
                "why.parking.count_range", {"occupied": r.occupied, "capacity": r.capacity, "times": times}
            )
        )
        return self.conditions.update(
            key,
            True,
            lambda: alert(
                "parking.count_range",
                r.lot,
                "parking",
                Severity.WARNING,
                Text("alert.parking.count_range", {"lot": place(f"lot:{r.lot}", r.lot)}),
                float(r.occupied),
                observed=float(r.occupied),
                threshold=float(r.capacity),
                window_end=r.time,
                details={"device": r.device, "occupied": r.occupied, "capacity": r.capacity},
                message=what,
            ),
            r.time,
            "",
        )

    def _jump(self, r: CountReading, prev: CountReading, st: _Lot) -> list[AlertEvent]:
        cfg = self.config
        step = r.occupied - prev.occupied
        hours = (r.time - prev.time).total_seconds() / 3600
        limit = max(cfg.jump_min, r.capacity * hours / cfg.fill_h)
        if abs(step) <= limit:
            return []
        routine = self._routine(st, r.time)
        st.jumps.append(r.time)
        if routine:
            return []
        self.held.append(_Held(r, prev, limit))
        return []

    def _release(self, now: datetime) -> list[AlertEvent]:
        """The jumps held ``together_s`` or longer: of several lots of a zone at once, one alert for the
        zone; else each lot's own."""
        cfg = self.config
        out: list[AlertEvent] = []
        while self.held and (now - self.held[0].reading.time).total_seconds() >= cfg.together_s:
            first = self.held[0].reading.time
            group = [h for h in self.held if (h.reading.time - first).total_seconds() <= cfg.together_s]
            self.held = self.held[len(group) :]
            by_zone: dict[str, list[_Held]] = {}
            for h in group:
                by_zone.setdefault(self.zone_of.get(h.reading.lot, ""), []).append(h)
            for zone, jumped in by_zone.items():
                counted = sum(1 for lot in self.lots if self.zone_of.get(lot, "") == zone)
                lots = sorted({h.reading.lot for h in jumped})
                if zone and len(lots) >= max(cfg.together_min, cfg.together_share * counted):
                    out += self._together(zone, jumped, lots, counted)
                else:
                    for h in jumped:
                        out += self._own_jump(h)
        return out

    def _together(self, zone: str, jumped: list[_Held], lots: list[str], counted: int) -> list[AlertEvent]:
        when = max(h.reading.time for h in jumped)
        self.together[zone] = (when, self.together.get(zone, (when, set()))[1] | set(lots))
        subject = f"zone:{zone}"
        return self.conditions.update(
            f"{TOGETHER}:{subject}",
            True,
            lambda: alert(
                TOGETHER,
                subject,
                "parking",
                Severity.WARNING,
                Text("alert.parking.counts_jumped", {"zone": place(subject, zone), "n": len(lots)}),
                float(len(lots)),
                observed=float(len(lots)),
                threshold=float(self.config.together_min),
                window_start=min(h.prev.time for h in jumped),
                window_end=when,
                details={
                    "lots": lots,
                    "devices": sorted({h.reading.device for h in jumped}),
                    "counted": counted,
                    "jumps": [[h.reading.lot, h.prev.occupied, h.reading.occupied] for h in jumped],
                },
                message=Text(
                    "why.parking.counts_jumped",
                    {"n": len(lots), "of": counted, "at": at(when), "lots": ", ".join(lots[:5])},
                ),
            ),
            when,
            "",
        )

    def _own_jump(self, h: _Held) -> list[AlertEvent]:
        r, prev, limit = h.reading, h.prev, h.limit
        step = r.occupied - prev.occupied
        st = self.lots[r.lot]
        st.jump_at = r.time if st.jump_at is None or r.time > st.jump_at else st.jump_at
        key = f"parking.count_jump:{r.lot}"
        if key in self.conditions:
            return []
        return self.conditions.update(
            key,
            True,
            lambda: alert(
                "parking.count_jump",
                r.lot,
                "parking",
                Severity.WARNING,
                Text("alert.parking.count_jump", {"lot": place(f"lot:{r.lot}", r.lot)}),
                float(step),
                observed=float(step),
                threshold=limit,
                window_start=prev.time,
                window_end=r.time,
                details={"device": r.device, "from": prev.occupied, "to": r.occupied},
                message=Text(
                    "why.parking.count_jump",
                    {
                        "from": prev.occupied,
                        "to": r.occupied,
                        "minutes": (r.time - prev.time).total_seconds() / 60,
                    },
                ),
            ),
            r.time,
            "",
        )

    def _routine(self, st: _Lot, now: datetime) -> bool:
        """Whether the count jumped near this time of day on ``routine_days`` of the past seven days."""
        cfg = self.config
        local = now.astimezone(self.tz)
        minute = local.hour * 60 + local.minute
        days = set()
        for t in st.jumps:
            if now - t > timedelta(days=7) or now - t < timedelta(hours=12):
                continue
            seen = t.astimezone(self.tz)
            apart = abs(seen.hour * 60 + seen.minute - minute)
            if min(apart, 24 * 60 - apart) <= cfg.routine_min:
                days.add(seen.date())
        return len(days) >= cfg.routine_days

    def _balance(self, r: CountReading, prev: CountReading, st: _Lot) -> list[AlertEvent]:
        entries, exits = r.entries, r.exits
        if entries is None or exits is None:
            return []
        cfg = self.config
        off = (r.occupied - prev.occupied) - (entries - exits)
        bad = abs(off) > max(cfg.balance_tolerance, 0.05 * (entries + exits))
        st.unbalanced, st.balanced = (st.unbalanced + 1, 0) if bad else (0, st.balanced + 1)
        key = f"parking.count_unbalanced:{r.lot}"
        if bad and st.unbalanced >= cfg.balance_run:
            return self.conditions.update(
                key,
                True,
                lambda: alert(
                    "parking.count_unbalanced",
                    r.lot,
                    "parking",
                    Severity.WARNING,
                    Text("alert.parking.count_unbalanced", {"lot": place(f"lot:{r.lot}", r.lot)}),
                    float(off),
                    observed=float(off),
                    threshold=float(cfg.balance_tolerance),
                    window_end=r.time,
                    details={"device": r.device, "entries": entries, "exits": exits},
                    message=Text(
                        "why.parking.count_unbalanced",
                        {
                            "moved": r.occupied - prev.occupied,
                            "entries": entries,
                            "exits": exits,
                            "net": entries - exits,
                            "reports": st.unbalanced,
                        },
                    ),
                ),
                r.time,
                "",
            )
        if not bad and st.balanced >= cfg.balance_run:
            return self.conditions.clear(
                key, r.time, Text("clear.parking.count_unbalanced", {"n": st.balanced})
            )
        return []

    def _record_hours(self, lot: str, st: _Lot, now: datetime) -> None:
        """Each whole hour since the last one recorded: did the count change in it (history of the hour of
        the week). Nothing is learned while the counter is faulty."""
        hour = now.replace(minute=0, second=0, microsecond=0)
        if st.sampled is None:
            st.sampled = hour
            return
        learn = not self.faulty(lot)
        h = st.sampled
        while h + timedelta(hours=1) <= hour:
            if learn:
                moved = h <= st.changed_at < h + timedelta(hours=1)
                self.moves.setdefault(
                    (lot, hour_of_week(h, self.tz)), deque(maxlen=self.config.history_weeks)
                ).append(moved)
            h += timedelta(hours=1)
        st.sampled = hour

    def _moving_hours(self, lot: str, since: datetime, now: datetime) -> tuple[int, bool]:
        """Whole hours in [since, now) in which the lot usually moves (counted up to ``stuck_moving_h``: enough
        to tell), and whether every hour looked at had a history."""
        h = since.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        n, known = 0, True
        for _ in range(24 * 14):  # two weeks are enough to tell
            if h + timedelta(hours=1) > now or n >= self.config.stuck_moving_h:
                break
            seen = self.moves.get((lot, hour_of_week(h, self.tz)))
            if seen is None or len(seen) < self.config.history_min:
                known = False
            elif sum(seen) * 2 > len(seen):
                n += 1
            h += timedelta(hours=1)
        return n, known

    def _stuck(self, lot: str, st: _Lot, now: datetime) -> list[AlertEvent]:
        cfg = self.config
        held = (now - st.changed_at).total_seconds()
        moving, known = self._moving_hours(lot, st.changed_at, now)
        stuck = moving >= cfg.stuck_moving_h or (not known and moving == 0 and held >= cfg.stuck_s)
        value = st.last.occupied
        return self.conditions.update(
            f"parking.count_stuck:{lot}",
            stuck,
            lambda: alert(
                "parking.count_stuck",
                lot,
                "parking",
                Severity.WARNING,
                Text("alert.parking.count_stuck", {"lot": place(f"lot:{lot}", lot)}),
                held,
                observed=held,
                window_start=st.changed_at,
                window_end=now,
                details={"device": st.last.device, "occupied": value, "moving_hours": moving},
                message=Text(
                    "why.parking.count_stuck.moving" if moving else "why.parking.count_stuck",
                    {"value": value, "hours": held / 3600, "moving": moving},
                ),
            ),
            now,
            Text("clear.parking.count_stuck"),
        )
