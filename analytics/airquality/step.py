"""The air-quality step: from the stored readings to alert events.

- minute by minute, per zone: sensor quality (stuck, spike, drift, range) -> raise/clear, each
  zone-minute as soon as every live station of the zone has reported for it, at the latest once it is
  older than the lateness;
- each completed hour: the CAI per station (``aq_hourly``), the fine-dust / ozone advisories per station
  and per zone (one long-lived alert each), the learned baselines (``aq.unusual``, ``aq.multivariate``)
  and the unusual-pattern detector on every pollutant's hourly mean (``aq.shape``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from alerts import queries
from alerts.model import Clear, Raise
from analytics import rules as events
from analytics import state as saved
from analytics.airquality.advisory import QUIET, Level, advance
from analytics.airquality.advisory import RULES as ADVISORY_RULES
from analytics.airquality.advisory import State as AdvisoryState
from analytics.airquality.baseline import (
    FEATURES,
    TRAIN_WINDOW,
    Assessment,
    MultivariateModel,
    SeasonalBaseline,
    Unusual,
    shared_with_peers,
)
from analytics.airquality.cai import cai
from analytics.airquality.quality import Reading, ZoneQuality
from analytics.airquality.validation import Area, Hour, Verdict, area, judge
from analytics.registry import StepContext
from analytics.shapes import ShapeWatch
from citywatch.contracts.instruments import POLLUTANTS
from citywatch.i18n import Text, place

#: each station's hours in [%(h0)s, %(h1)s): sums and counts of the particulates (a 24-hour mean is the
#: sum of 24 hours' sums over the sum of their counts), means of the gases, and the maxima
HOURS_SQL = """
SELECT device_id, time_bucket('1 hour', time) AS hour,
       sum(pm25::float8), count(pm25), sum(pm10::float8), count(pm10), avg(o3), avg(no2), avg(co), avg(so2),
       max(pm25), max(pm10), max(o3), max(no2), max(co), max(so2)
FROM air_quality WHERE time >= %(h0)s AND time < %(h1)s {stations} GROUP BY device_id, hour
"""


#: a station's own sensor faults: its readings are not the air, and its learned baselines do not learn them
FAULTS = ("aq.stuck", "aq.range", "aq.drift", "aq.saturation")


def _hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _live_in(spans: list[tuple[datetime, datetime | None, str]], hour: datetime) -> bool:
    """One of the fault ``spans`` (since, until or None, rule) was live in the hour ending at ``hour``."""
    start = hour - timedelta(hours=1)
    return any(since < hour and (until is None or until > start) for since, until, _ in spans)


class AirQualityStep:
    def __init__(self, ctx: StepContext) -> None:
        self.conn, self.alerts, self.registry, self.rules = ctx.conn, ctx.alerts, ctx.registry, ctx.rules
        self.tz = ctx.tz
        self.zones: dict[str, ZoneQuality] = {}
        self.advisories: dict[str, AdvisoryState] = {}
        self.baselines: dict[str, SeasonalBaseline] = {}
        self.zone_done: dict[str, datetime] = {}  # per zone, the last minute evaluated
        self.models: dict[str, MultivariateModel] = {}
        self.shapes = ShapeWatch(ctx.rules().shapes)
        self.shapes_dirty = False  # hours were learned since the shapes were last saved (their own row)
        self.previous: dict[str, dict[str, float]] = {}  # station -> its usable means of the last hour
        self.previous_hour: datetime | None = None
        self.saturated_h: dict[str, int] = {}  # station -> hours running with an analyser at full scale
        # station -> when its sensor faults began and ended (None: still on), and which, for the hours
        # (_faulty_in): the seasonal baseline and the mix model do not learn those hours
        self.fault_spans: dict[str, list[tuple[datetime, datetime | None, str]]] = {}
        # the hours' pollutant mixes, judged together once the hours are done (:meth:`_flush_mixes`)
        self.mix_pending: list[tuple[datetime, str, dict[str, float | None]]] = []
        self.mix_evaluated: dict[datetime, dict[str, int]] = {}  # hour -> zone -> stations with the hour
        # per rule cleared hour by hour, the subjects with a live alert, read once a step: a clear of an
        # alert that is not live is not sent (most hours clear nothing; each would be a transaction)
        self.live: dict[str, set[str]] = {}
        # per advisory alert key, its latest new peak not yet written: a rising episode peaks hour after hour,
        # and in a re-evaluation of many hours only the last before the advisory's next change (or the end
        # of the evaluation) says anything (:meth:`_flush_peaks`)
        self.peaks: dict[str, tuple[Raise, datetime]] = {}
        # the hours' CAI rows, written together (:meth:`_write_indices`)
        self.indices: list[tuple[Any, ...]] = []

    # -- state -------------------------------------------------------------
    def restore(self, s: dict[str, Any]) -> None:
        self.mix_pending.clear()  # what an evaluation cut short had under way
        self.indices = []
        self.mix_evaluated.clear()
        self.peaks.clear()
        self.live = {}
        self.zones = {
            z: ZoneQuality.from_state(st, self.rules().quality_for(z)) for z, st in s.get("zones", {}).items()
        }
        self.advisories = {
            k: AdvisoryState(
                Level(v["level"]),
                tuple(v["streaks"]),
                datetime.fromisoformat(v["since"]) if v["since"] else None,
                v["peak"],
                Level(v.get("confirmed_level", v["level"])),
                v.get("doubted_h", 0),
            )
            for k, v in s.get("advisories", {}).items()
        }
        self.previous = s.get("previous", {})
        self.previous_hour = datetime.fromisoformat(s["previous_hour"]) if s.get("previous_hour") else None
        self.saturated_h = s.get("saturated_h", {})
        # a fault live when the state was saved is live from before it
        live: dict[str, list[str]] = defaultdict(list)
        for zq in self.zones.values():
            for sid, st in zq.stations.items():
                live[sid] += [rule for rule in FAULTS if st.active.get(rule)]
        for sid in self.saturated_h:
            live[sid].append("aq.saturation")
        since = datetime.min.replace(tzinfo=UTC)
        self.fault_spans = {
            sid: [(since, None, rule) for rule in rules] for sid, rules in live.items() if rules
        }
        self.baselines = {
            k: SeasonalBaseline.from_state(v, self.tz) for k, v in s.get("baselines", {}).items()
        }
        self.zone_done = {k: datetime.fromisoformat(v) for k, v in s.get("zone_done", {}).items()}

    def state(self) -> dict[str, Any]:
        return {
            "zones": {z: zq.state() for z, zq in self.zones.items()},
            "baselines": {k: b.state() for k, b in self.baselines.items()},
            "zone_done": {k: v.isoformat() for k, v in self.zone_done.items()},
            "advisories": {
                k: {
                    "level": int(v.level),
                    "streaks": list(v.streaks),
                    "since": v.since.isoformat() if v.since else None,
                    "peak": v.peak,
                    "confirmed_level": int(v.confirmed_level),
                    "doubted_h": v.doubted_h,
                }
                for k, v in self.advisories.items()
            },
            "previous": self.previous,
            "previous_hour": self.previous_hour.isoformat() if self.previous_hour else None,
            "saturated_h": self.saturated_h,
        }

    def load_shapes(self, state_key: str) -> None:
        """The shape detectors' own row; a zone partition's first start takes its stations' from the
        city's row (and saves only those)."""
        shapes = self.rules().shapes
        for name in (f"{state_key}:shapes", f"{saved.STATE_KEY}:shapes"):
            row = saved.read(self.conn(), name)
            if row is not None:
                self.shapes = ShapeWatch.from_state(row, shapes)
                zone = self.registry.zone
                if name != f"{state_key}:shapes" and zone is not None:
                    mine = (
                        self.conn()
                        .execute(
                            "SELECT device_id FROM devices WHERE kind = 'aq' AND coalesce(zone_id, '') = %s",
                            (zone,),
                        )
                        .fetchall()
                    )
                    self.shapes.only({r[0] for r in mine})
                    self.shapes_dirty = True
                return
        self.shapes = ShapeWatch(shapes)

    def save_shapes(self, state_key: str) -> None:
        if self.shapes_dirty:
            saved.write(self.conn(), f"{state_key}:shapes", self.shapes.state())
            self.shapes_dirty = False

    def configure(self) -> None:
        """The rules or the registry changed: every zone's settings, and its stations' own."""
        self.shapes.configure(self.rules().shapes)
        for zone, zq in self.zones.items():
            self._zone_settings(zone, zq)

    def _zone_settings(self, zone: str, zq: ZoneQuality) -> ZoneQuality:
        """A zone's quality settings, those of its stations with settings of their own, and its stations'
        analysers."""
        rules, zone_of = self.rules(), self.registry.zone_of
        zq.config = rules.quality_for(zone)
        zq.overrides = {
            sid: rules.quality_for_station(sid, zone)
            for sid, own in rules.device_own.items()
            if "quality" in own and zone_of.get(sid) == zone
        }
        zq.instruments = {
            sid: kit for sid, kit in self.registry.instruments.items() if zone_of.get(sid) == zone
        }
        zq.intervals = {sid: s for sid, s in self.registry.interval_s.items() if zone_of.get(sid) == zone}
        return zq

    # -- minutes -----------------------------------------------------------
    def oldest(self) -> datetime | None:
        """The oldest reading there is (of this partition's stations)."""
        only, params = self.registry.only()
        row = self.conn().execute(f"SELECT min(time) FROM air_quality WHERE true {only}", params).fetchone()
        return row[0] if row else None

    def _expected_stations(self, now: datetime) -> dict[str, set[str]]:
        """Per zone, the stations heard from in the last 5 minutes: a minute is complete once all have reported."""
        rows = (
            self.conn()
            .execute(
                "SELECT s.device_id FROM device_streams s JOIN devices d USING (device_id)"
                " WHERE d.kind = 'aq' AND s.last_received_at > %s",
                (now - timedelta(minutes=5),),
            )
            .fetchall()
        )
        out: dict[str, set[str]] = defaultdict(set)
        for (dev,) in rows:
            out[self.registry.zone_of.get(dev, "")].add(dev)
        return out

    def evaluate(self, start: datetime, safe: datetime, now: datetime) -> int:
        """Zone-minutes after ``start``: each is evaluated as soon as every live station of its zone has
        reported for it (low latency), and at the latest once it is older than ``safe`` (lateness); then
        the hours completed by ``safe``. Returns the readings evaluated."""
        self.live = {}  # read afresh: an operator may have resolved one since
        only, params = self.registry.only()
        rows = (
            self.conn()
            .execute(
                f"SELECT time, device_id, pm25, pm10, rh FROM air_quality WHERE time >= %(t0)s AND time <= %(t1)s {only}"
                " ORDER BY time, device_id",  # a minute's stations in one order, whoever else reported
                # from the minute's start: a minute split by the previous slice is read whole
                {"t0": start.replace(second=0, microsecond=0), "t1": now, **params},
            )
            .fetchall()
        )
        zone_of = self.registry.zone_of
        by_zone: dict[str, dict[datetime, list[Reading]]] = defaultdict(lambda: defaultdict(list))
        for t, dev, pm25, pm10, rh in rows:
            by_zone[zone_of.get(dev, "")][t.replace(second=0, microsecond=0)].append(
                Reading(dev, t, pm25, pm10, rh)
            )
        expected = (
            self._expected_stations(now)
            if any(m + timedelta(minutes=1) > safe for z in by_zone.values() for m in z)
            else {}
        )
        n = 0
        for zone, minutes in by_zone.items():
            zq = self.zones.get(zone) or self._zone_settings(zone, self.zones.setdefault(zone, ZoneQuality()))
            done = self.zone_done.get(zone)
            for minute in sorted(minutes):
                if done is not None and minute <= done:
                    continue
                readings = minutes[minute]
                complete = minute + timedelta(minutes=1) <= safe or (
                    bool(expected.get(zone)) and expected[zone] <= {r.station for r in readings}
                )
                if not complete:
                    break  # keep the zone's minutes in order
                for f in zq.tick(readings):
                    key, ev = events.quality_event(f)
                    self.alerts.apply(key, ev, f.time)
                    self._fault_span(f.rule, f.station, f.active, f.time)
                self.zone_done[zone] = done = minute
                n += len(readings)
                self.alerts.checkpoint()
        first, hours = _hour_floor(start) + timedelta(hours=1), list[datetime]()
        while first + timedelta(hours=len(hours)) <= safe:
            hours.append(first + timedelta(hours=len(hours)))
        if hours:
            buckets = self._buckets(hours[0] - timedelta(hours=24), hours[-1])
            for hour in hours:
                self._hourly(hour, buckets)
                self.alerts.checkpoint()  # a batch does not hold its locks across a long re-evaluation
        self._write_indices()  # before the mixes' models learn from them
        self._flush_mixes()
        self._flush_peaks()
        return n

    def _write_indices(self) -> None:
        """The CAI of the station-hours evaluated (``aq_hourly``), in one statement for all."""
        if not self.indices:
            return
        columns = [list(c) for c in zip(*self.indices, strict=True)]
        self.conn().execute(
            "INSERT INTO aq_hourly (hour, device_id, pm10_24h, pm25_24h, o3, no2, co, so2, cai, grade, dominant,"
            " sub_indices) SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::float8[], %s::float8[],"
            " %s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::int[], %s::text[], %s::text[],"
            " %s::jsonb[]) ON CONFLICT (device_id, hour) DO UPDATE SET cai = excluded.cai, grade = excluded.grade,"
            " dominant = excluded.dominant, sub_indices = excluded.sub_indices, pm10_24h = excluded.pm10_24h,"
            " pm25_24h = excluded.pm25_24h",
            columns,
        )
        self.indices = []

    def _flush_peaks(self, key: str | None = None) -> None:
        """Write the new peaks held (of ``key`` alone, before another event of its alert)."""
        for k in [key] if key is not None else sorted(self.peaks):
            if (held := self.peaks.pop(k, None)) is not None:
                self.alerts.apply(k, *held)

    # -- hours -------------------------------------------------------------
    def _buckets(self, start: datetime, end: datetime) -> dict[str, dict[int, tuple[Any, ...]]]:
        """Each station's hours in [start, end) (:data:`HOURS_SQL`), by their number since the epoch, in one
        query for all the hours a step evaluates."""
        only, params = self.registry.only()
        out: dict[str, dict[int, tuple[Any, ...]]] = defaultdict(dict)
        for dev, hour, *values in self.conn().execute(
            HOURS_SQL.format(stations=only), {"h0": start, "h1": end, **params}
        ):
            out[dev][int(hour.timestamp()) // 3600] = tuple(values)
        return out

    @staticmethod
    def _hour_of(hours: dict[int, tuple[Any, ...]], hour: int) -> tuple[Any, ...] | None:
        """A station's means of the hour ending at ``hour`` (its number since the epoch; PM also over the
        24 hours), then the hour's maxima; None without a reading in the 24 hours."""
        day = [b for h in range(hour - 24, hour) if (b := hours.get(h)) is not None]
        if not day:
            return None
        n25, n10 = sum(b[1] for b in day), sum(b[3] for b in day)
        pm25_24h = sum(b[0] for b in day if b[1]) / n25 if n25 else None
        pm10_24h = sum(b[2] for b in day if b[3]) / n10 if n10 else None
        last = hours.get(hour - 1)
        if last is None:
            return (None, None, pm25_24h, pm10_24h, None, None, None, None, *([None] * 6))
        s25, c25, s10, c10, o3, no2, co, so2, *maxima = last
        return (s25 / c25 if c25 else None, s10 / c10 if c10 else None, pm25_24h, pm10_24h,
                o3, no2, co, so2, *maxima)  # fmt: skip

    def _hourly(self, hour: datetime, buckets: dict[str, dict[int, tuple[Any, ...]]]) -> None:
        zone_of = self.registry.zone_of
        self._operator_confirmed()
        number = int(hour.timestamp()) // 3600
        rows = [(dev, *got) for dev in sorted(buckets) if (got := self._hour_of(buckets[dev], number))]
        means: dict[str, dict[str, float | None]] = {}
        highest: dict[str, dict[str, float | None]] = {}
        day: dict[str, dict[str, float | None]] = {}  # station -> the 24-hour features of its pollutant mix
        for dev, pm25_1h, pm10_1h, pm25_24h, pm10_24h, o3, no2, co, so2, *maxima in rows:
            c = cai({"pm25": pm25_24h, "pm10": pm10_24h, "o3": o3, "no2": no2, "co": co, "so2": so2})
            self.indices.append(
                (
                    hour,
                    dev,
                    pm10_24h,
                    pm25_24h,
                    o3,
                    no2,
                    co,
                    so2,
                    c.value if c else None,
                    c.grade.value if c else None,
                    c.dominant if c else None,
                    Jsonb(c.sub_indices if c else {}),
                )
            )
            means[dev] = dict(zip(POLLUTANTS, (pm25_1h, pm10_1h, o3, no2, co, so2), strict=True))
            highest[dev] = dict(zip(POLLUTANTS, maxima, strict=True))
            day[dev] = dict(zip(FEATURES, (pm10_24h, pm25_24h, o3, no2, co, so2), strict=True))
        verdicts = self._judge(hour, means, highest)
        saturated = self._saturation(hour, verdicts)
        evaluated = self.mix_evaluated.setdefault(hour, defaultdict(int))  # zone -> stations with an hour
        for dev, hourly in means.items():
            for pollutant in ADVISORY_RULES:
                self._advise(pollutant, dev, hour, hourly[pollutant], verdicts[dev].get(pollutant))
            for key, ev in self.shapes.on_hour(dev, hour, dict(hourly)):
                self.alerts.apply(key, ev, hour)
            self.shapes_dirty = True
            if dev in saturated:
                continue  # an analyser at its ceiling says nothing of the air's mix (aq.saturation says it)
            self._seasonal(dev, hour, hourly["pm25"], learn=not self._faulty_in(dev, hour))
            self.mix_pending.append((hour, dev, day[dev]))
            if zone := zone_of.get(dev):
                evaluated[zone] += 1
        for zone in sorted({zone_of[d] for d in means if zone_of.get(d)}):
            for pollutant in ADVISORY_RULES:
                values = {
                    d: v for d in means if zone_of.get(d) == zone and (v := means[d][pollutant]) is not None
                }
                believed = {d: self.advisories.get(f"{pollutant}:{d}", QUIET).believed for d in values}
                a = area(values, {d: verdicts[d][pollutant] for d in values}, believed)
                self._advise(pollutant, f"zone:{zone}", hour, a.value, None, a)
        mine = set(self.registry.stations) if self.registry.zone is not None else None
        for key, clear in self.shapes.tick(hour, mine):
            self.alerts.apply(key, clear, hour)
            self.shapes_dirty = True

    def _judge(
        self,
        hour: datetime,
        means: dict[str, dict[str, float | None]],
        highest: dict[str, dict[str, float | None]],
    ) -> dict[str, dict[str, Verdict]]:
        """Every station's hour of every pollutant, validated (:mod:`analytics.airquality.validation`)
        against its analyser's range, its zone peers and (alone) its previous hour."""
        out: dict[str, dict[str, Verdict]] = defaultdict(dict)
        prior = self.previous if self.previous_hour == hour - timedelta(hours=1) else {}
        for pollutant in POLLUTANTS:
            hours = {
                dev: Hour(v, highest[dev][pollutant], prior.get(dev, {}).get(pollutant))
                for dev, m in means.items()
                if (v := m[pollutant]) is not None
            }
            for dev, verdict in judge(
                pollutant, hours, self.registry.instruments, self.registry.zone_of
            ).items():
                out[dev][pollutant] = verdict
        self.previous = {
            dev: {p: v for p, v in m.items() if v is not None and out[dev][p].usable}
            for dev, m in means.items()
        }
        self.previous_hour = hour
        return out

    def _saturation(self, hour: datetime, verdicts: dict[str, dict[str, Verdict]]) -> set[str]:
        """``aq.saturation`` for each station with an analyser at its full scale this hour (stuck at it after
        hours running), cleared in its first hour without; returns the stations saturated."""
        saturated = set()
        for dev, by_pollutant in verdicts.items():
            reasons = {
                p: v.why or Text("why.aq.doubtful") for p, v in by_pollutant.items() if v.status == "invalid"
            }
            key = f"aq.saturation:{dev}"
            if reasons:
                saturated.add(dev)
                hours = self.saturated_h[dev] = self.saturated_h.get(dev, 0) + 1
                if hours == 1:
                    self._fault_span("aq.saturation", dev, True, hour - timedelta(hours=1))
                self.alerts.apply(key, events.saturation_event(dev, reasons, hours, hour), hour)
            elif self.saturated_h.pop(dev, 0):
                self._fault_span("aq.saturation", dev, False, hour - timedelta(hours=1))
                self.alerts.apply(key, Clear(Text("clear.aq.saturation")), hour)
        return saturated

    def _mixes(
        self,
        hour: datetime,
        own: dict[str, dict[str, Unusual]],
        shared: dict[str, dict[str, Unusual]],
        evaluated: dict[str, int],
    ) -> None:
        """The hour's unusual pollutant mixes (``aq.multivariate``): a zone where most stations (at least 3)
        are unusual together is one alert for the zone, its stations' own alerts cleared; otherwise each
        station's own — but not a station whose unusual pollutants its peers share (``shared``:
        :func:`shared_with_peers`): that is the zone's air, not its analysers. A zone's alert clears in an
        hour it is not shared."""
        rule = "aq.multivariate"
        for zone in sorted(own.keys() | shared.keys()):  # in a stable order: runs compare event by event
            unusual = own.get(zone, {}) | shared.get(zone, {})
            if zone and events.shared_mix(unusual, evaluated[zone]):
                ev = events.multivariate_zone_event(zone, unusual, evaluated[zone], hour)
                self._raise(rule, f"zone:{zone}", ev, hour)
                for dev in unusual:
                    self._clear(
                        rule,
                        dev,
                        Clear(Text("clear.aq.mix.zone", {"zone": place(f"zone:{zone}", zone)})),
                        hour,
                    )
                continue
            for dev, u in own.get(zone, {}).items():
                self._raise(rule, dev, events.multivariate_event(dev, u.score, u.features, hour), hour)
            for dev in shared.get(zone, {}):
                why = Clear(Text("clear.aq.mix.shared"))
                self._clear(rule, dev, why, hour)
        for zone in evaluated:
            unusual = own.get(zone, {}) | shared.get(zone, {})
            if not (unusual and events.shared_mix(unusual, evaluated[zone])):
                self._clear(rule, f"zone:{zone}", Clear(Text("clear.aq.mix.zone_over")), hour)

    def _raise(self, rule: str, subject: str, event: Raise, at: datetime) -> None:
        self.alerts.apply(f"{rule}:{subject}", event, at)
        self._live(rule).add(subject)

    def _clear(self, rule: str, subject: str, event: Clear, at: datetime) -> None:
        """Clear ``rule``'s alert of ``subject`` if it is live."""
        live = self._live(rule)
        if subject in live:
            self.alerts.apply(f"{rule}:{subject}", event, at)
            live.discard(subject)

    def _live(self, rule: str) -> set[str]:
        if rule not in self.live:
            self.live[rule] = set(self.alerts.live(rule))
        return self.live[rule]

    def _fault_span(self, rule: str, station: str, active: bool, at: datetime) -> None:
        """Keep when each station's sensor faults (stuck, inconsistent, drifting, saturated) began and ended:
        the hours are judged after the minutes of their slice, and learned from for weeks after, so a
        fault's time, not its state now, tells them."""
        if rule not in FAULTS:
            return
        spans = self.fault_spans.setdefault(station, [])
        if active:
            spans.append((at, None, rule))
            return
        for i in range(len(spans) - 1, -1, -1):
            if spans[i][2] == rule and spans[i][1] is None:
                spans[i] = (spans[i][0], at, rule)
                return

    def _faulty_in(self, station: str, hour: datetime) -> bool:
        """A sensor fault of the station was live in the hour ending at ``hour`` (spans over before anything
        still learned from forgotten)."""
        spans = self.fault_spans.get(station)
        if not spans:
            return False
        start = hour - timedelta(hours=1)
        spans[:] = [s for s in spans if s[1] is None or s[1] > start - TRAIN_WINDOW - timedelta(days=1)]
        return _live_in(spans, hour)

    def _operator_confirmed(self) -> None:
        """Station advisories an operator confirmed (POST /api/v1/alerts/{id}/confirm) stand confirmed."""
        unconfirmed = {k for k, st in self.advisories.items() if not st.confirmed}
        if not unconfirmed:
            return
        for key in queries.operator_confirmed(self.conn(), "aq.advisory."):
            pollutant_subject = key.removeprefix("aq.advisory.")
            st = self.advisories.get(pollutant_subject)
            if pollutant_subject in unconfirmed and st is not None:
                self.advisories[pollutant_subject] = replace(st, confirmed_level=st.level)

    def _seasonal(self, dev: str, hour: datetime, pm25: float | None, learn: bool = True) -> None:
        """The hour's PM2.5 against this station's usual level for the hour (``aq.unusual``), then learned —
        unless a sensor fault of the station is live (``learn``): a stuck or drifting analyser's hours do
        not become its normal."""
        if pm25 is None:
            return
        b = self.baselines.setdefault(dev, SeasonalBaseline(tz=self.tz))
        z, expected = b.score(hour, pm25), b.expected(hour)
        if z is not None and z >= 6:
            self._raise("aq.unusual", dev, events.unusual_event(dev, pm25, expected, z, hour), hour)
        elif z is not None and z < 3:
            self._clear("aq.unusual", dev, Clear(Text("clear.aq.unusual")), hour)
        if learn:
            b.learn(hour, pm25)

    def _flush_mixes(self) -> None:
        """The pollutant mixes of the hours evaluated (``aq.multivariate``): each station's model asked once
        for all its hours until it is next due to learn (:meth:`MultivariateModel.due`, from the 14 days
        before), then each hour's mixes judged in order, each station's against its zone peers' of the hour
        (:meth:`_mixes`)."""
        by_dev: dict[str, list[tuple[datetime, dict[str, float | None]]]] = defaultdict(list)
        for hour, dev, vector in self.mix_pending:
            by_dev[dev].append((hour, vector))
        # hour -> zone -> station -> its mix against its own usual (trained models only)
        assessed: dict[datetime, dict[str, dict[str, Assessment]]] = defaultdict(lambda: defaultdict(dict))
        zone_of = self.registry.zone_of

        def judge(
            dev: str, chunk: list[tuple[datetime, dict[str, float | None]]], model: MultivariateModel
        ) -> None:
            if model.trained_at is None:
                return
            for (h, _v), a in zip(chunk, model.assess_many([v for _h, v in chunk]), strict=True):
                assessed[h][zone_of.get(dev) or ""][dev] = a

        for dev, items in by_dev.items():
            model = self.models.get(dev) or self.models.setdefault(dev, MultivariateModel())
            chunk: list[tuple[datetime, dict[str, float | None]]] = []
            history: list[tuple[Any, ...]] | None = (
                None  # the station's hours these fits learn from, read once
            )
            for hour, vector in items:
                if model.due(hour, len(chunk)):
                    judge(dev, chunk, model)  # the hours before, by the model they were due to
                    chunk = []
                    if history is None:
                        history = (
                            self.conn()
                            .execute(
                                "SELECT hour, pm10_24h, pm25_24h, o3, no2, co, so2 FROM aq_hourly"
                                " WHERE device_id = %s AND hour > %s AND hour < %s ORDER BY hour",
                                (dev, hour - TRAIN_WINDOW, items[-1][0]),
                            )
                            .fetchall()
                        )
                    hours = [r[0] for r in history]
                    window = history[bisect_right(hours, hour - TRAIN_WINDOW) : bisect_left(hours, hour)]
                    spans = self.fault_spans.get(dev)
                    model.fit(  # not the hours its sensors were faulty: they are not its usual mixes
                        [
                            dict(zip(FEATURES, r[1:], strict=True))
                            for r in window
                            if not (spans and _live_in(spans, r[0]))
                        ],
                        hour,
                    )
                chunk.append((hour, vector))
            judge(dev, chunk, model)
        for hour in sorted(self.mix_evaluated):
            own: dict[str, dict[str, Unusual]] = defaultdict(dict)
            shared: dict[str, dict[str, Unusual]] = defaultdict(dict)
            for zone, stations in assessed.get(hour, {}).items():
                for dev, a in stations.items():
                    if not a.unusual:
                        self._clear("aq.multivariate", dev, Clear(Text("clear.aq.mix")), hour)
                        continue
                    peers = [p for d, p in stations.items() if d != dev] if zone else []
                    (shared if shared_with_peers(a, peers) else own)[zone][dev] = a
            self._mixes(hour, own, shared, self.mix_evaluated[hour])
        self.mix_pending.clear()
        self.mix_evaluated.clear()

    def _advise(
        self,
        pollutant: str,
        subject: str,
        hour: datetime,
        value: float | None,
        verdict: Verdict | None,
        of_area: Area | None = None,
    ) -> None:
        """Feed one hour to ``subject``'s advisory of ``pollutant``: a station's own hour unless it is invalid
        (doubtful: its advisory unconfirmed), or an area's median of its believable stations."""
        if verdict is not None and not verdict.usable:
            value = None  # the analyser's ceiling is not the air: the advisory holds
        k = f"{pollutant}:{subject}"
        trusted = verdict is None or verdict.status == "valid"
        state, emitted = advance(
            ADVISORY_RULES[pollutant], self.advisories.get(k, QUIET), hour, value, trusted
        )
        self.advisories[k] = state
        for e in emitted:
            key, ev = events.advisory_event(
                pollutant,
                subject,
                e,
                state.since,
                doubt=verdict.why if verdict is not None else None,
                excluded=of_area.excluded if of_area else None,
                readings=of_area.stations if of_area else None,
            )
            if e.kind == "peaked" and isinstance(ev, Raise):
                self.peaks[key] = (ev, hour)
                continue
            self._flush_peaks(key)
            self.alerts.apply(key, ev, hour)
