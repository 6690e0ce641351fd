"""Parking sensors, garage counters and lots -> alert events (pure).

A lot is sensed space by space (``ParkingSpaceState``) or counted at its gates (``ParkingLotCount``:
the counter's own rules are :mod:`analytics.lot_counter`; its count is the lot's occupancy while it is
not faulty, and the lot's usual level learns nothing while it is).

Per lot, its space sensors **stuck**: one alert for the lot ("37 of 400 space sensors unchanged beyond
their usual dwell"), not one per sensor, whose title follows the count. A sensor is stuck once unchanged
for longer than ``stuck_s`` (a car does not park for days in a public lot) and longer than
``dwell_factor`` times the longest unchanged period it has shown among its last 50 (a space
at the quiet end of a garage is legitimately free for days). Per sensor: **flapping** (more than
``flap_per_h`` changes in an hour: a faulty sensor or interference), **battery
low**. Per lot: **full** (critical capacity for drivers and operators) and
**almost full**, from the latest state of each of its spaces, with hysteresis.
Missing heartbeats are device health (``device.offline``).
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.model import AlertEvent, Clear, Severity, alert
from analytics.conditions import Conditions
from analytics.lot_counter import CountReading, LotCounters
from citywatch.i18n import Text, place, sentences
from citywatch.localtime import SEOUL, hour_of_week


@dataclass(frozen=True, slots=True)
class SpaceReading:
    sensor: str
    lot: str
    time: datetime
    occupied: bool
    battery_pct: float | None = None


@dataclass(frozen=True, slots=True)
class ParkingConfig:
    stuck_s: float = 24 * 3600
    dwell_factor: float = 2.0  # ... and this many times its longest usual dwell (of the last DWELLS_KEPT)
    dwell_min: int = 5  # dwells seen before a sensor's own is trusted
    flap_per_h: int = 12
    battery_low_pct: float = 15.0
    almost_full: float = 0.9
    release: float = 0.85  # hysteresis: statuses end below this occupancy...
    release_after_s: float = 900.0  # ...once it has stayed below it this long (an off-delay: one car
    # coming and going at the threshold must not re-announce the lot every few minutes)
    baseline_keep: int = 8  # weeks of the same hour of the week remembered per lot
    baseline_min: int = 3
    unusual_delta: float = 0.35  # occupancy this far from the lot's usual level for the hour of the week


DWELLS_KEPT = 50  # a sensor's last unchanged periods remembered


@dataclass
class _Sensor:
    occupied: bool
    since: datetime  # last change
    toggles: deque[datetime] = field(default_factory=deque)
    last: datetime | None = None  # the newest reading taken
    dwells: deque[float] = field(default_factory=lambda: deque(maxlen=DWELLS_KEPT))  # its last dwells, s
    stuck: bool = False


class ParkingRules:
    def __init__(
        self, capacity: dict[str, int], config: ParkingConfig | None = None, tz: ZoneInfo = SEOUL
    ) -> None:
        self.cfg = config or ParkingConfig()
        self.tz = tz  # the city's: a lot's usual level is by its local hour of the week
        self.overrides: dict[str, ParkingConfig] = {}  # per sensor, from the rules file's ``devices``
        self.capacity = capacity
        self.usual: dict[tuple[str, int], deque[float]] = {}  # (lot, hour of week) -> occupancy seen
        self.sampled: dict[str, datetime] = {}  # lot -> the hour last sampled
        self.sensors: dict[str, _Sensor] = {}
        self.lot_of: dict[str, str] = {}
        self.in_lot: dict[str, set[str]] = {}  # lot -> its space sensors
        self.conditions = Conditions()
        self.lot_status: dict[str, str] = {}
        self.below_since: dict[str, datetime] = {}  # lot -> since when under ``release`` (while not open)
        self.counters = LotCounters(tz=tz)

    def occupancy(self, lot: str) -> tuple[int, int]:
        """(occupied, capacity): by the lot's counter where it has one (nothing while it is faulty), else
        by its spaces' latest states; the registry's capacity where it has one."""
        if lot in self.counters.lots:
            counted = self.counters.occupancy(lot)
            if counted is None:
                return 0, 0
            cap = self.capacity.get(lot) or counted[1]
            return min(max(counted[0], 0), cap), cap
        occupied = sum(1 for s in self.in_lot.get(lot, ()) if self.sensors[s].occupied)
        return occupied, self.capacity.get(lot, 0)

    def on_count(self, r: CountReading) -> list[AlertEvent]:
        """A garage counter's report: its own rules, then the lot's status from its count."""
        return [*self.counters.on_count(r), *self._lot(r.lot, r.time)]

    def cfg_for(self, sensor: str) -> ParkingConfig:
        """The sensor's own thresholds, if the rules file gives it some; else the city's."""
        return self.overrides.get(sensor, self.cfg)

    def on_reading(self, r: SpaceReading) -> list[AlertEvent]:
        cfg = self.cfg_for(r.sensor)
        out: list[AlertEvent] = []
        if self.lot_of.get(r.sensor) != r.lot:  # a new sensor, or one moved to another lot
            self.in_lot.get(self.lot_of.get(r.sensor, ""), set()).discard(r.sensor)
            self.in_lot.setdefault(r.lot, set()).add(r.sensor)
            self.lot_of[r.sensor] = r.lot
        st = self.sensors.get(r.sensor)
        if st is not None and st.last is not None and r.time <= st.last:
            return out  # a reading replayed (a re-evaluated range) or older than one taken: the newest stands
        if st is None:
            st = self.sensors[r.sensor] = _Sensor(r.occupied, r.time)
        elif st.occupied != r.occupied:
            st.dwells.append((r.time - st.since).total_seconds())
            st.occupied, st.since = r.occupied, r.time
            st.toggles.append(r.time)
        st.last = r.time
        while st.toggles and st.toggles[0] < r.time - timedelta(hours=1):
            st.toggles.popleft()
        n = len(st.toggles)
        out += self.conditions.update(
            f"parking.flapping:{r.sensor}",
            n > cfg.flap_per_h,
            lambda: alert(
                "parking.flapping",
                r.sensor,
                "parking",
                Severity.WARNING,
                Text("alert.parking.flapping", {"sensor": place(r.sensor)}),
                float(n),
                observed=n,
                threshold=cfg.flap_per_h,
                window_start=r.time - timedelta(hours=1),
                window_end=r.time,
                message=Text("why.parking.flapping", {"n": n}),
            ),
            r.time,
            Text("clear.parking.flapping"),
        )
        out += self._stuck(r.lot, r.time, [r.sensor])
        battery = r.battery_pct
        if battery is not None:
            out += self.conditions.update(
                f"parking.battery:{r.sensor}",
                battery < cfg.battery_low_pct,
                lambda: alert(
                    "parking.battery",
                    r.sensor,
                    "parking",
                    Severity.INFO,
                    Text("alert.parking.battery", {"sensor": place(r.sensor)}),
                    battery,
                    observed=battery,
                    threshold=cfg.battery_low_pct,
                    window_end=r.time,
                    message=Text("why.parking.battery", {"battery": battery}),
                ),
                r.time,
                Text("clear.parking.battery"),
            )
        out += self._lot(r.lot, r.time)
        return out

    def _dwell_limit(self, sensor: str, st: _Sensor) -> float:
        """How long the sensor may stay unchanged: ``stuck_s``, or longer where it has shown longer dwells."""
        cfg = self.cfg_for(sensor)
        own = st.dwells
        return max(cfg.stuck_s, cfg.dwell_factor * max(own)) if len(own) >= cfg.dwell_min else cfg.stuck_s

    def _stuck(self, lot: str, now: datetime, sensors: list[str] | None = None) -> list[AlertEvent]:
        """Re-judge ``sensors`` (all the lot's: None) and the lot's one alert for its stuck space sensors."""
        mine = sorted(self.in_lot.get(lot, ()))
        changed = False
        for s in mine if sensors is None else sensors:
            st = self.sensors[s]
            stuck = (now - st.since).total_seconds() >= self._dwell_limit(s, st)
            changed |= stuck != st.stuck
            st.stuck = stuck
        stuck_now = sorted(s for s in mine if self.sensors[s].stuck)
        key = f"parking.stuck:{lot}"
        if not stuck_now:
            return self.conditions.clear(key, now, Text("clear.parking.stuck"))
        if not changed and key in self.conditions:
            return []
        longest = max((now - self.sensors[s].since).total_seconds() for s in stuck_now)
        self.conditions.clear(key, now, "")  # re-raised: the alert's title and count follow the sensors
        return self.conditions.update(
            key,
            True,
            lambda: alert(
                "parking.stuck",
                lot,
                "parking",
                Severity.WARNING,
                Text(
                    "alert.parking.stuck",
                    {"n": len(stuck_now), "of": len(mine), "lot": place(f"lot:{lot}", lot)},
                ),
                float(len(stuck_now)),
                observed=float(len(stuck_now)),
                window_end=now,
                details={"sensors": stuck_now, "of": len(mine)},
                message=Text(
                    "why.parking.stuck.more" if len(stuck_now) > 12 else "why.parking.stuck",
                    {
                        "n": len(stuck_now),
                        "of": len(mine),
                        "hours": longest / 3600,
                        "sensors": ", ".join(stuck_now[:12]),
                        "more": len(stuck_now) - 12,
                    },
                ),
            ),
            now,
            "",
        )

    def _lot(self, lot: str, t: datetime) -> list[AlertEvent]:
        occ, cap = self.occupancy(lot)
        if cap <= 0:
            return []
        rate = occ / cap
        prev = self.lot_status.get(lot, "open")
        status = "full" if occ >= cap else "almost_full" if rate >= self.cfg.almost_full else prev
        if prev != "open" and rate < self.cfg.release:
            since = self.below_since.setdefault(lot, t)
            if (t - since).total_seconds() >= self.cfg.release_after_s:
                status = "open"
        else:
            self.below_since.pop(lot, None)
        if status == prev:
            return []
        self.lot_status[lot] = status
        if status == "open":
            self.below_since.pop(lot, None)
        key = f"parking.lot_full:{lot}"
        if status == "open":
            return [(key, Clear(Text("clear.parking.lot_full", {"release": self.cfg.release, "now": rate,
                                                                "minutes": self.cfg.release_after_s / 60})), t)]  # fmt: skip
        # full is a warning where it asks something of the operators; where the lot is usually this full
        # at this hour of the week (the busy downtown garage by 11:00), it is shown, not paged
        usual = self._usual(self.usual.get((lot, hour_of_week(t, self.tz)), ()))
        routine = usual is not None and usual >= self.cfg.almost_full
        sev = Severity.WARNING if status == "full" and not routine else Severity.INFO
        title = Text(f"alert.parking.{status}", {"lot": place(f"lot:{lot}", lot)})
        why = Text("why.parking.occupied", {"occupied": occ, "capacity": cap})
        return [
            (
                key,
                alert(
                    "parking.lot_full",
                    lot,
                    "parking",
                    sev,
                    title,
                    rate,
                    observed=rate,
                    threshold=self.cfg.almost_full,
                    window_end=t,
                    details={"occupied": occ, "capacity": cap},
                    baseline=usual,
                    message=sentences(why, Text("why.parking.usually_full", {"usual": usual}))
                    if routine
                    else why,
                ),
                t,
            )
        ]

    def tick(self, now: datetime) -> list[AlertEvent]:
        out: list[AlertEvent] = []
        for lot in sorted(self.in_lot):
            out += self._stuck(lot, now)
        out += self.counters.tick(now)
        for lot in set(self.in_lot) | set(self.counters.lots):
            out += self._against_baseline(lot, now)
        for lot in list(self.below_since):  # a lot emptying may send no reading while its off-delay runs
            out += self._lot(lot, now)
        return out

    def _usual(self, seen: Collection[float]) -> float | None:
        """A lot's usual occupancy at an hour of the week from what it had then (``self.usual``): the median
        of the weeks remembered, once ``baseline_min`` have been seen."""
        return statistics.median(seen) if len(seen) >= self.cfg.baseline_min else None

    def _against_baseline(self, lot: str, now: datetime) -> list[AlertEvent]:
        """Once an hour per lot: occupancy against its usual level for this hour of the week."""
        hour = now.replace(minute=0, second=0, microsecond=0)
        if self.sampled.get(lot) == hour:
            return []
        self.sampled[lot] = hour
        if self.counters.faulty(
            lot
        ):  # a faulty counter's hours are not the lot's: neither judged nor learned
            return self.conditions.clear(f"parking.unusual:{lot}", now, Text("clear.parking.counter_faulty"))
        occ, cap = self.occupancy(lot)
        if cap <= 0:
            return []
        rate = occ / cap
        seen = self.usual.setdefault((lot, hour_of_week(now, self.tz)), deque(maxlen=self.cfg.baseline_keep))
        usual = self._usual(seen)
        seen.append(rate)
        if usual is None:
            return []
        off = abs(rate - usual) >= self.cfg.unusual_delta
        return self.conditions.update(
            f"parking.unusual:{lot}",
            off,
            lambda: alert(
                "parking.unusual",
                lot,
                "parking",
                Severity.INFO,
                Text("alert.parking.unusual", {"lot": place(f"lot:{lot}", lot)}),
                rate,
                observed=rate,
                baseline=usual,
                threshold=self.cfg.unusual_delta,
                window_end=now,
                message=Text("why.parking.unusual", {"rate": rate, "usual": usual}),
            ),
            now,
            Text("clear.parking.unusual"),
        )


def lot_status(occupied: int, capacity: int, reporting: int, almost_full: float) -> str:
    """What drivers are told about a lot: ``full``, ``almost_full``, ``open``, or ``unknown`` (no sensor reports)."""
    if reporting == 0 or capacity <= 0:
        return "unknown"
    if occupied >= capacity:
        return "full"
    return "almost_full" if occupied / capacity >= almost_full else "open"
