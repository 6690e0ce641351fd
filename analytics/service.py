"""The analytics service: keeps up with ingested data and turns what it finds
into alert events. It also re-evaluates a historical range (backfill).

Per step (every ``poll_s``):
1. air quality, minute by minute up to ``now - lateness``: sensor quality per
   zone (stuck, spike, drift, range) -> alert raise/clear;
2. each completed hour: CAI per station (``aq_hourly``), the fine-dust /
   ozone advisories per station and per zone -> one long-lived alert each,
   the learned baselines (``aq.unusual``, ``aq.multivariate``) and the
   unusual-pattern detector on every pollutant's hourly mean (``aq.shape``);
3. device health: offline by Last Will or silence -> alert, cleared when data returns;
4. escalation of unacknowledged critical alerts;
5. state (cursor, detector models, advisory states) saved, so a restart resumes.
Notifications are delivered from the outbox after the commit.

Only one instance works at a time (citywatch.leadership: a PostgreSQL advisory
lock): a second one started by mistake, or as a standby, waits and takes over
— from the saved state — the moment the active one's session ends.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from alerts import outbox, store
from alerts.lifecycle import next_escalation
from alerts.maintenance import muting_window
from alerts.model import Clear, Raise, Severity, Tick, involved
from alerts.webhook import Webhook
from analytics import delivery, outage, rules
from analytics.airquality.advisory import RULES as ADVISORY_RULES
from analytics.airquality.advisory import Level, advance
from analytics.airquality.advisory import State as AdvisoryState
from analytics.airquality.baseline import FEATURES, MultivariateModel, SeasonalBaseline, Unusual
from analytics.airquality.cai import cai
from analytics.airquality.quality import Reading, ZoneQuality
from analytics.cctv import CctvEvent, CctvRules
from analytics.config import IN_FORCE, RulesError, RulesFile, default_policy
from analytics.health import loss_alarm, offline_after
from analytics.metrics import AnalyticsMetrics
from analytics.parking import ParkingRules, SpaceReading
from analytics.shapes import ShapeWatch
from citywatch import metrics
from citywatch.db import privacy, rollups
from citywatch.leadership import Leadership
from citywatch.settings import Settings

log = logging.getLogger(__name__)
STATE_KEY = "analytics:v1"
# within a batch of parking events, the rules look at the clock this often
PARKING_TICK = timedelta(minutes=5)
HOURLY_SQL = """
SELECT device_id,
       avg(pm25) FILTER (WHERE time >= %(h1)s) AS pm25_1h, avg(pm10) FILTER (WHERE time >= %(h1)s) AS pm10_1h,
       avg(pm25) AS pm25_24h, avg(pm10) AS pm10_24h,
       avg(o3) FILTER (WHERE time >= %(h1)s) AS o3, avg(no2) FILTER (WHERE time >= %(h1)s) AS no2,
       avg(co) FILTER (WHERE time >= %(h1)s) AS co, avg(so2) FILTER (WHERE time >= %(h1)s) AS so2
FROM air_quality WHERE time >= %(h24)s AND time < %(h)s {stations} GROUP BY device_id
"""


def _hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def registry_rows(conn: psycopg.Connection[Any]) -> list[tuple[str, str, str]]:
    """(device, kind, zone or '') of every registered device."""
    return conn.execute("SELECT device_id, kind, coalesce(zone_id, '') FROM devices").fetchall()


class IngestPulse:
    """Sleep until ingest commits a batch (its NOTIFY) or the poll interval passes — and, however often
    ingest commits, wake at most twice a second. Shared by the single service and the partitioned worker."""

    def __init__(self, conninfo: str, stop: threading.Event) -> None:
        self.conninfo, self.stop = conninfo, stop
        self._conn: psycopg.Connection[Any] | None = None

    def wait(self, started: float, poll_s: float) -> None:
        remaining = max(0.05, poll_s - (time.monotonic() - started))
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.conninfo, autocommit=True)
                self._conn.execute("LISTEN citywatch_ingest")
            for _ in self._conn.notifies(timeout=remaining, stop_after=1):
                pass
            self.stop.wait(max(0.0, 0.5 - (time.monotonic() - started)))
        except psycopg.Error:
            self._conn = None
            self.stop.wait(remaining)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class AnalyticsService:
    """The whole city (``partition`` None), or one partition of it for a partitioned worker
    (analytics.partitions): ``"city"`` (device health, loss, bad data, escalation, rollups) or
    ``"zone:{zone_id}"`` (air quality, CCTV and parking of one zone). Each partition keeps its own state."""

    def __init__(
        self, settings: Settings, sink: outbox.Sink | None = None, partition: str | None = None
    ) -> None:
        self.settings = settings
        self.partition = partition
        self.zone: str | None = (
            partition.removeprefix("zone:") if partition and partition.startswith("zone:") else None
        )
        self.citywide = partition in (None, "city")  # health, loss, bad data, escalation, rollups
        self.zonal = partition is None or self.zone is not None  # air quality, CCTV, parking
        self.state_key = STATE_KEY if partition is None else f"{STATE_KEY}:{partition}"
        self.stations: list[str] = []  # this zone's air-quality stations (zone partitions)
        self.a = settings.analytics
        self._rollups_at = float("-inf")
        self._cameras_off_at = float("-inf")
        self._cameras_off_set: set[str] = set()
        self._privacy_at = float("-inf")
        sinks: dict[str, outbox.Sink] = {"mqtt": sink} if sink is not None else {}
        secret = self.a.webhook_secret.get_secret_value() if self.a.webhook_secret else None
        for url in self.a.webhook_urls:
            sinks[f"webhook:{url}"] = Webhook(url, secret=secret)
        self.policy = default_policy(self.a)
        self.rules_file = RulesFile(self.a.rules_file, self.policy)  # an invalid file stops us here, clearly
        self.rules = self.rules_file.rules
        self.dispatcher = outbox.Dispatcher(settings.db.url, sinks, routes=self.rules.notifications)
        self.metrics = AnalyticsMetrics(settings.db.url, lambda: list(self.dispatcher.sinks))
        self.conn = psycopg.connect(settings.db.url, autocommit=True, application_name="citywatch-analytics")
        self.zone_of: dict[str, str] = {}  # air-quality station -> zone
        self.kind_of: dict[str, str] = {}  # every device -> kind
        self.zones: dict[str, ZoneQuality] = {}
        self.advisories: dict[str, AdvisoryState] = {}
        self.baselines: dict[str, SeasonalBaseline] = {}
        self.zone_done: dict[str, datetime] = {}  # per zone, the last minute evaluated
        self.models: dict[str, MultivariateModel] = {}
        self.shapes = ShapeWatch(self.rules.shapes)
        self._shapes_dirty = False  # hours were learned since the shapes were last saved (their own row)
        self.cursor: datetime | None = None
        self.cctv = CctvRules(self.rules.cctv)
        self.parking = ParkingRules({}, self.rules.parking)
        self.device_zone: dict[str, tuple[str, str]] = {}  # device -> (kind, zone)
        self.stream_cursor: dict[str, datetime] = {}
        self.received_cursor: dict[str, datetime] = {}
        self._last_health: datetime | None = None
        self.gaps_seen: dict[str, int] | None = None  # device -> missing messages already accounted for
        self.loss_at: dict[str, datetime] = {}  # device -> when it last lost messages
        self.outage_seen: dict[str, tuple[str, ...]] = {}  # zone outage -> its devices when last raised
        #: a long re-evaluation reports (evaluated up to, fraction done, readings) here instead of the log
        self.progress: Callable[[datetime, float, int], None] | None = None
        self._stop = threading.Event()
        self.leadership = Leadership(settings.db.url, "citywatch-analytics")
        self.active = False  # this instance holds the leadership and works
        self._standing_by = False
        self.steps = 0
        self._load_state()
        self._report_rules()

    # -- state -------------------------------------------------------------
    def _load_state(self) -> None:
        row = self.conn.execute(
            "SELECT state FROM analytics_state WHERE name = %s", (self.state_key,)
        ).fetchone()
        if (
            not row and self.partition is not None
        ):  # a partition's first start: from the whole-city state, if any
            row = self.conn.execute(
                "SELECT state FROM analytics_state WHERE name = %s", (STATE_KEY,)
            ).fetchone()
        self._load_shapes()
        if not row:
            return
        s = row[0]
        self.cursor = datetime.fromisoformat(s["cursor"]) if s.get("cursor") else None
        self.zones = {
            z: ZoneQuality.from_state(st, self.rules.quality_for(z)) for z, st in s.get("zones", {}).items()
        }
        self.advisories = {
            k: AdvisoryState(
                Level(v["level"]),
                tuple(v["streaks"]),
                datetime.fromisoformat(v["since"]) if v["since"] else None,
                v["peak"],
            )
            for k, v in s.get("advisories", {}).items()
        }
        self.baselines = {k: SeasonalBaseline.from_state(v) for k, v in s.get("baselines", {}).items()}
        self.zone_done = {k: datetime.fromisoformat(v) for k, v in s.get("zone_done", {}).items()}
        log.info("analytics resumes from %s", self.cursor)

    def _load_shapes(self) -> None:
        """The shape detectors live in a row of their own, written only when an hour taught them something.
        A zone partition's first start takes its stations' from the city's row (and saves only those)."""
        for name in (
            f"{self.state_key}:shapes",
            f"{STATE_KEY}:shapes",
        ):
            row = self.conn.execute("SELECT state FROM analytics_state WHERE name = %s", (name,)).fetchone()
            if row:
                self.shapes = ShapeWatch.from_state(row[0], self.rules.shapes)
                if name != f"{self.state_key}:shapes" and self.zone is not None:
                    mine = self.conn.execute(
                        "SELECT device_id FROM devices WHERE kind = 'aq' AND coalesce(zone_id, '') = %s",
                        (self.zone,),
                    ).fetchall()
                    self.shapes.only({r[0] for r in mine})
                    self._shapes_dirty = True
                return
        self.shapes = ShapeWatch(self.rules.shapes)

    def _save_state(self) -> None:
        if self._shapes_dirty:
            self.conn.execute(
                "INSERT INTO analytics_state (name, state) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE"
                " SET state = excluded.state, updated_at = now()",
                (f"{self.state_key}:shapes", Jsonb(self.shapes.state())),
            )
            self._shapes_dirty = False
        s = {
            "cursor": self.cursor.isoformat() if self.cursor else None,
            "zones": {z: zq.state() for z, zq in self.zones.items()},
            "baselines": {k: b.state() for k, b in self.baselines.items()},
            "zone_done": {k: v.isoformat() for k, v in self.zone_done.items()},
            "advisories": {
                k: {
                    "level": int(v.level),
                    "streaks": list(v.streaks),
                    "since": v.since.isoformat() if v.since else None,
                    "peak": v.peak,
                }
                for k, v in self.advisories.items()
            },
        }
        self.conn.execute(
            "INSERT INTO analytics_state (name, state) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE"
            " SET state = excluded.state, updated_at = now()",
            (self.state_key, Jsonb(s)),
        )

    def _refresh_registry(self, rows: list[tuple[str, str, str]] | None = None) -> None:
        """Device kinds and zones (``rows`` from :func:`registry_rows`, when the caller read them already)."""
        rows = rows if rows is not None else registry_rows(self.conn)
        self.kind_of = {dev: kind for dev, kind, _zone in rows}
        self.zone_of = {dev: zone for dev, kind, zone in rows if kind == "aq"}
        device_zone = {dev: (kind, zone) for dev, kind, zone in rows}
        if device_zone != self.device_zone:  # the registry changed: who has settings of their own may too
            self.device_zone = device_zone
            self._own_settings()
        if self.zone is not None:
            self.stations = sorted(dev for dev, zone in self.zone_of.items() if zone == self.zone)

    def _own_settings(self) -> None:
        """Zones, stations, cameras and parking sensors with settings of their own (the rules file's ``zones``
        and ``devices``): what the quality, CCTV and parking rules use instead of the city's. Run when the
        registry or the rules change, not on every step."""
        for rules_of, domain, kind in ((self.cctv, "cctv", "cctv"), (self.parking, "parking", "parking")):
            rules_of.overrides = {
                dev: self.rules.settings_for(domain, zone, dev)
                for dev, (k, zone) in self.device_zone.items()
                if k == kind and self.rules.has_own(domain, zone, dev)
            }
        for zone, zq in self.zones.items():
            self._zone_settings(zone, zq)

    def _zone_settings(self, zone: str, zq: ZoneQuality) -> ZoneQuality:
        """A zone's quality settings, and those of its stations with settings of their own."""
        zq.config = self.rules.quality_for(zone)
        zq.overrides = {
            sid: self.rules.quality_for_station(sid, zone)
            for sid, own in self.rules.device_own.items()
            if "quality" in own and self.zone_of.get(sid) == zone
        }
        return zq

    def _only(self, column: str = "device_id") -> tuple[str, dict[str, object]]:
        """SQL restricting air-quality rows to this zone's stations (nothing for the whole city)."""
        if self.zone is None:
            return "", {}
        return f"AND {column} = ANY(%(stations)s)", {"stations": self.stations}

    def _event(self, key: str, event: Raise | Clear, at: datetime) -> None:
        policy = self.rules.policy_for(key.split(":", 1)[0], self.policy)
        store.apply(self.conn, event, at, key=key, policy=policy)

    def _report_rules(self, refused: str | None = None) -> None:
        """Say which rules text is in force here (and why an edit was refused), for the API's rules view."""
        if not self.citywide:
            return
        self.conn.execute(
            "INSERT INTO analytics_state (name, state) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE"
            " SET state = excluded.state, updated_at = now()",
            (
                IN_FORCE,
                Jsonb(
                    {
                        "digest": self.rules_file.digest,
                        "path": str(self.rules_file.path) if self.rules_file.path else None,
                        "refused": refused,
                        "at": datetime.now(UTC).isoformat(),
                    }
                ),
            ),
        )

    def _reload_rules(self) -> None:
        try:
            new = self.rules_file.reload_if_changed()
        except RulesError as e:
            log.error("%s — edit refused, the rules in force stay", e)
            self._report_rules(refused=str(e))
            return
        if new is None:
            return
        self._report_rules()
        self.rules = new
        self.cctv.cfg = new.cctv
        self.dispatcher.routes = new.notifications
        self.shapes.configure(new.shapes)
        self.parking.cfg = new.parking
        self._own_settings()
        log.info("rules reloaded from %s", self.rules_file.path)

    # -- air quality -------------------------------------------------------
    def _expected_stations(self, now: datetime) -> dict[str, set[str]]:
        """Per zone, the stations heard from in the last 5 minutes: a minute is complete once all have reported."""
        rows = self.conn.execute(
            "SELECT s.device_id FROM device_streams s JOIN devices d USING (device_id)"
            " WHERE d.kind = 'aq' AND s.last_received_at > %s",
            (now - timedelta(minutes=5),),
        ).fetchall()
        out: dict[str, set[str]] = defaultdict(set)
        for (dev,) in rows:
            out[self.zone_of.get(dev, "")].add(dev)
        return out

    def _air_quality(self, start: datetime, safe: datetime, now: datetime) -> int:
        """Zone-minutes after ``start``: each is evaluated as soon as every live station of its zone has
        reported for it (low latency), and at the latest once it is older than ``safe`` (lateness)."""
        only, params = self._only()
        rows = self.conn.execute(
            f"SELECT time, device_id, pm25, pm10, rh FROM air_quality WHERE time >= %(t0)s AND time <= %(t1)s {only}"
            " ORDER BY time",
            # from the minute's start: a minute split by the previous slice is read whole
            {"t0": start.replace(second=0, microsecond=0), "t1": now, **params},
        ).fetchall()
        by_zone: dict[str, dict[datetime, list[Reading]]] = defaultdict(lambda: defaultdict(list))
        for t, dev, pm25, pm10, rh in rows:
            by_zone[self.zone_of.get(dev, "")][t.replace(second=0, microsecond=0)].append(
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
                    key, ev = rules.quality_event(f)
                    self._event(key, ev, f.time)
                self.zone_done[zone] = done = minute
                n += len(readings)
        hour = _hour_floor(start) + timedelta(hours=1)
        while hour <= safe:
            self._hourly(hour)
            hour += timedelta(hours=1)
        return n

    def _hourly(self, hour: datetime) -> None:
        only, params = self._only()
        rows = self.conn.execute(
            HOURLY_SQL.format(stations=only),
            {"h": hour, "h1": hour - timedelta(hours=1), "h24": hour - timedelta(hours=24), **params},
        ).fetchall()
        by_zone: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        mixes: dict[str, dict[str, Unusual]] = defaultdict(dict)  # zone -> station -> its unusual mix
        evaluated: dict[str, int] = defaultdict(int)  # zone -> stations with an hour of data
        for dev, pm25_1h, pm10_1h, pm25_24h, pm10_24h, o3, no2, co, so2 in rows:
            c = cai({"pm25": pm25_24h, "pm10": pm10_24h, "o3": o3, "no2": no2, "co": co, "so2": so2})
            self.conn.execute(
                "INSERT INTO aq_hourly (hour, device_id, pm10_24h, pm25_24h, o3, no2, co, so2, cai, grade, dominant,"
                " sub_indices) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (device_id, hour) DO UPDATE"
                " SET cai = excluded.cai, grade = excluded.grade, dominant = excluded.dominant,"
                " sub_indices = excluded.sub_indices, pm10_24h = excluded.pm10_24h, pm25_24h = excluded.pm25_24h",
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
                ),
            )
            hourly = {"pm25": pm25_1h, "pm10": pm10_1h, "o3": o3}
            self._advise(dev, hour, hourly)
            for key, ev in self.shapes.on_hour(dev, hour, {**hourly, "no2": no2, "co": co, "so2": so2}):
                self._event(key, ev, hour)
            self._shapes_dirty = True
            unusual = self._learned(
                dev, hour, pm25_1h, dict(zip(FEATURES, (pm10_24h, pm25_24h, o3, no2, co, so2), strict=True))
            )
            zone = self.zone_of.get(dev)
            if unusual is not None:
                mixes[zone or ""][dev] = unusual
            if zone:
                evaluated[zone] += 1
                for p, v in hourly.items():
                    if v is not None:
                        by_zone[zone][p].append(v)
        for zone, values in by_zone.items():
            self._advise(f"zone:{zone}", hour, {p: statistics.fmean(v) for p, v in values.items()})
        self._mixes(hour, mixes, evaluated)
        for key, clear in self.shapes.tick(hour, set(self.stations) if self.zone is not None else None):
            self._event(key, clear, hour)
            self._shapes_dirty = True

    def _mixes(self, hour: datetime, mixes: dict[str, dict[str, Unusual]], evaluated: dict[str, int]) -> None:
        """The hour's unusual pollutant mixes (``aq.multivariate``): a zone where most stations (at least 3)
        are unusual together is one alert for the zone, its stations' own alerts cleared; otherwise each
        station's own. A zone's alert clears in an hour it is not shared."""
        key_of = "aq.multivariate:{}".format
        for zone, unusual in mixes.items():
            if zone and rules.shared_mix(unusual, evaluated[zone]):
                self._event(
                    key_of(f"zone:{zone}"),
                    rules.multivariate_zone_event(zone, unusual, evaluated[zone], hour),
                    hour,
                )
                for dev in unusual:
                    self._event(key_of(dev), Clear(f"part of zone {zone}'s unusual hour (zone:{zone})"), hour)
                continue
            for dev, u in unusual.items():
                self._event(key_of(dev), rules.multivariate_event(dev, u.score, u.features, hour), hour)
        for zone in evaluated:
            if not (zone in mixes and rules.shared_mix(mixes[zone], evaluated[zone])):
                self._event(key_of(f"zone:{zone}"), Clear("no longer shared by most of its stations"), hour)

    def _learned(
        self, dev: str, hour: datetime, pm25: float | None, vector: dict[str, float | None]
    ) -> Unusual | None:
        """Against what is normal for this station: its seasonal PM2.5 baseline (alerted here), and its
        pollutant mix (returned when unusual: :meth:`_mixes` decides whether it is the station's or its
        zone's; cleared here when usual)."""
        if pm25 is not None:
            b = self.baselines.setdefault(dev, SeasonalBaseline())
            z, expected = b.score(hour, pm25), b.expected(hour)
            key = f"aq.unusual:{dev}"
            if z is not None and z >= 6:
                self._event(key, rules.unusual_event(dev, pm25, expected, z, hour), hour)
            elif z is not None and z < 3:
                self._event(key, Clear("back within its usual range for the hour"), hour)
            b.learn(hour, pm25)
        model = self.models.setdefault(dev, MultivariateModel(seed=len(self.models)))
        if model.trained_at is None or hour - model.trained_at >= timedelta(hours=24):
            rows = self.conn.execute(
                "SELECT pm10_24h, pm25_24h, o3, no2, co, so2 FROM aq_hourly WHERE device_id = %s"
                " AND hour > %s AND hour < %s",
                (dev, hour - timedelta(days=14), hour),
            ).fetchall()
            model.fit([dict(zip(FEATURES, r, strict=True)) for r in rows], hour)
        unusual = model.check(vector)
        if unusual is None and model.trained_at is not None:
            self._event(f"aq.multivariate:{dev}", Clear("pollutant mix usual again"), hour)
        return unusual

    def _advise(self, subject: str, hour: datetime, hourly: dict[str, float | None]) -> None:
        for pollutant, rule in ADVISORY_RULES.items():
            k = f"{pollutant}:{subject}"
            state, events = advance(
                rule, self.advisories.get(k, AdvisoryState()), hour, hourly.get(pollutant)
            )
            self.advisories[k] = state
            for e in events:
                key, ev = rules.advisory_event(pollutant, subject, e, state.since)
                self._event(key, ev, hour)

    def _privacy(self, every_s: float = 300.0) -> None:
        """Erase licence plates past their retention (citywatch.db.privacy), every few minutes."""
        t = time.monotonic()
        if t - self._privacy_at < every_s:
            return
        self._privacy_at = t
        n = privacy.erase_plates(self.conn, self.settings.privacy.plate_retention_h)
        if n:
            log.info(
                "erased %d licence plate(s) older than %.0f h", n, self.settings.privacy.plate_retention_h
            )

    # -- cctv and parking ----------------------------------------------------
    def _refresh_rollups(self, every_s: float = 15.0) -> None:
        """Keep the chart rollup (Apache edition) within ``every_s`` of the data, late arrivals included."""
        t = time.monotonic()
        if t - self._rollups_at < every_s:
            return
        self._rollups_at = t
        while rollups.refresh(self.conn, limit=24) == 24:
            pass

    def _new_rows(self, stream: str, sql: str, safe: datetime, now: datetime, warmup: timedelta) -> list[Any]:
        """Rows of an event stream not yet evaluated, in time order, without waiting for the lateness:
        newer than the time cursor, or received since the last look (late arrivals). On the first look
        the rules rebuild their state from ``warmup`` of history (alert replays are no-ops)."""
        if stream not in self.stream_cursor:
            self.stream_cursor[stream] = min(self.cursor or safe, safe) - warmup
        tc, rc = self.stream_cursor[stream], self.received_cursor.get(stream)
        rows = self.conn.execute(
            sql, {"tc": tc, "rc": rc, "now": now, "late": tc - timedelta(hours=1), "zone": self.zone}
        ).fetchall()
        if rows:
            self.stream_cursor[stream] = max(tc, max(r[0] for r in rows))
            self.received_cursor[stream] = max([r[-1] for r in rows] + ([rc] if rc else []))
        return rows

    def _cctv(self, safe: datetime, now: datetime, live: bool = True) -> None:
        rows = self._new_rows(
            "cctv",
            "SELECT e.time, e.device_id, e.event_type, e.confidence, e.zone, coalesce(d.meta->>'area', ''),"
            " e.object_count, e.received_at FROM cctv_events e LEFT JOIN devices d USING (device_id)"
            " WHERE e.time <= %(now)s AND (e.time > %(tc)s OR (e.received_at > %(rc)s AND e.time > %(late)s))"
            + (" AND coalesce(d.zone_id, '') = %(zone)s" if self.zone is not None else "")
            + " ORDER BY e.time",
            safe,
            now,
            timedelta(hours=6),
        )
        self.cctv.offline = self._cameras_off() if live else set()  # a re-evaluated range: not known then
        for t, cam, etype, conf, zone, area, count, _r in rows:
            for key, ev, at in [
                *self.cctv.tick(t),
                *self.cctv.on_event(CctvEvent(cam, t, etype, conf, zone, area, count)),
            ]:
                self._event(key, ev, at)
        for key, ev, at in self.cctv.tick(now):
            self._event(key, ev, at)

    def _cameras_off(self, every_s: float = 15.0) -> set[str]:
        """The cameras (of this partition) whose newest status is their Last Will, read at most every
        ``every_s``: a silent camera that is off is explained by its device alert, not a fault of its own."""
        t = time.monotonic()
        if t - self._cameras_off_at >= every_s:
            self._cameras_off_at = t
            rows = self.conn.execute(
                "SELECT d.device_id FROM devices d JOIN LATERAL (SELECT status FROM device_status ds"
                " WHERE ds.device_id = d.device_id ORDER BY time DESC, received_at DESC LIMIT 1) st ON true"
                " WHERE d.kind = 'cctv' AND d.status = 'active' AND st.status = 'offline'"
                + (" AND coalesce(d.zone_id, '') = %(zone)s" if self.zone is not None else ""),
                {"zone": self.zone},
            ).fetchall()
            self._cameras_off_set = {r[0] for r in rows}
        return self._cameras_off_set

    def _parking(self, safe: datetime, now: datetime) -> None:
        self.parking.capacity = dict(
            self.conn.execute("SELECT lot_id, capacity FROM parking_lots").fetchall()
        )
        rows = self._new_rows(
            "parking",
            "SELECT time, device_id, lot_id, occupied, battery_pct, received_at FROM parking_events"
            " WHERE time <= %(now)s AND (time > %(tc)s OR (received_at > %(rc)s AND time > %(late)s))"
            + (
                " AND lot_id IN (SELECT lot_id FROM parking_lots WHERE coalesce(zone_id, '') = %(zone)s)"
                if self.zone is not None
                else ""
            )
            + " ORDER BY time",
            safe,
            now,
            timedelta(hours=26),
        )
        ticked = rows[0][0] if rows else now
        for t, dev, lot, occupied, battery, _r in rows:
            if t - ticked >= PARKING_TICK:  # a backfill's hours pass in event time: stuck sensors, off-delays
                for key, ev, at in self.parking.tick(t):
                    self._event(key, ev, at)
                ticked = t
            for key, ev, at in self.parking.on_reading(SpaceReading(dev, lot, t, occupied, battery)):
                self._event(key, ev, at)
        for key, ev, at in self.parking.tick(now):
            self._event(key, ev, at)

    # -- device health -------------------------------------------------------
    def _health(self, now: datetime) -> None:
        rows = self.conn.execute(
            """
            SELECT d.device_id, d.kind, d.expected_interval_s, s.last_seen, st.status, st.received_at,
                   coalesce(d.zone_id, '')
            FROM devices d
            LEFT JOIN (SELECT device_id, max(last_received_at) AS last_seen FROM device_streams GROUP BY 1) s
                   USING (device_id)
            LEFT JOIN LATERAL (SELECT status, received_at FROM device_status ds WHERE ds.device_id = d.device_id
                               ORDER BY time DESC, received_at DESC LIMIT 1) st ON true
            WHERE d.status = 'active'
            """
        ).fetchall()
        offline: dict[str, Raise] = {}
        devices: list[outage.Device] = []
        hold_s = self.rules.outage.hold_s
        for dev, kind, interval, last_seen, status, status_at, zone in rows:
            will = status == "offline" and (last_seen is None or status_at >= last_seen)
            # a device back online (after a power cut, say) is alive from then, though its data may lag
            alive = max(last_seen, status_at) if last_seen and status == "online" else last_seen
            silent = (now - alive).total_seconds() if alive else None
            # event-driven devices (interval 0: cameras, bell panels) are judged by their Last Will only
            limit = offline_after(interval, self.a.offline_factor, self.a.offline_min_s)
            down = will or (silent is not None and limit is not None and silent > limit)
            since = (status_at if will else last_seen) if down else None
            held = will and self.rules.outage.enabled and (now - status_at).total_seconds() < hold_s
            if down and not held:  # a Last Will waits a moment: it may be the first of a zone going dark
                offline[dev] = rules.offline_event(dev, kind, silent or 0.0, last_seen, will)
            devices.append(outage.Device(dev, kind, zone, last_seen is not None or status is not None, since))
        # a zone whose devices went silent together is one outage, not a fault of each device
        live_outages = set(self._live(outage.RULE))
        found = outage.outages(devices, live_outages, self.rules.outage)
        severity = Severity[self.rules.outage.severity.upper()]
        for subject, o in found.items():
            if self.outage_seen.get(subject) != o.devices:  # new, or its devices changed: the alert says so
                self.outage_seen[subject] = o.devices
                self._event(f"{outage.RULE}:{subject}", o.event(severity), now)
        for subject in live_outages - set(found):
            self.outage_seen.pop(subject, None)
            self._event(
                f"{outage.RULE}:{subject}",
                Clear(f"fewer than {self.rules.outage.min_devices} of its devices are still offline"),
                now,
            )
        covered = outage.covered(found)
        offline = {dev: ev for dev, ev in offline.items() if dev not in covered}
        if (
            offline
        ):  # power is back: the last of a zone's devices to boot are not paged for being seconds slower
            booting = self._released(now, hold_s)
            offline = {dev: ev for dev, ev in offline.items() if dev not in booting}
        self._reconcile(
            "device.offline",
            offline,
            now,
            "data arrives again",
            {dev: f"explained by the outage of {z} (alert {outage.RULE})" for dev, z in covered.items()},
        )

    def _released(self, now: datetime, hold_s: float) -> set[str]:
        """The devices of zone outages that cleared within ``hold_s``: each gets that long from the outage's
        end to come back, as from its own Last Will (read from the alerts, so a restart keeps it)."""
        rows = self.conn.execute(
            "SELECT explanation->'details' FROM alerts WHERE rule = %s AND state = 'resolved'"
            " AND resolved_at > %s AND resolved_at <= %s",
            (outage.RULE, now - timedelta(seconds=hold_s), now),
        ).fetchall()
        return {dev for (details,) in rows for dev in involved(details)}

    def _live(self, rule: str) -> dict[str, Severity]:
        """The subjects with a live alert of ``rule``, and its severity."""
        return {
            subject: Severity(severity)
            for subject, severity in self.conn.execute(
                "SELECT subject, severity FROM alerts WHERE rule = %s AND state <> 'resolved'", (rule,)
            ).fetchall()
        }

    def _reconcile(
        self,
        rule: str,
        wanted: dict[str, Raise],
        now: datetime,
        why_clear: str,
        why: Mapping[str, str] | None = None,
    ) -> None:
        """Raise ``rule`` for the subjects in ``wanted`` that have no live alert, or whose live alert is less
        severe than it has become (a capped sink that now fails); clear the live ones not wanted (saying
        ``why[subject]`` where given, else ``why_clear``)."""
        live = self._live(rule)
        for subject, event in wanted.items():
            if subject not in live or event.severity > live[subject]:
                self._event(f"{rule}:{subject}", event, now)
        for subject in live.keys() - wanted.keys():
            self._event(f"{rule}:{subject}", Clear((why or {}).get(subject, why_clear)), now)

    def _loss(self, now: datetime) -> None:
        """Sequence gaps that grow mean messages lost between device and platform (``device.loss``)."""
        rows: dict[str, int] = dict(
            self.conn.execute("SELECT device_id, sum(gaps)::bigint FROM device_streams GROUP BY 1").fetchall()
        )
        if self.gaps_seen is None:  # first look after a start: today's figures are the baseline
            self.gaps_seen = rows
            return
        for dev, gaps in rows.items():
            new = gaps - self.gaps_seen.get(dev, 0)
            self.gaps_seen[dev] = gaps
            if loss_alarm(new):
                self.loss_at[dev] = now
                self._event(
                    f"device.loss:{dev}", rules.loss_event(dev, self.kind_of.get(dev, ""), new, gaps), now
                )
        for dev, at in list(self.loss_at.items()):
            if now - at >= timedelta(minutes=30):
                del self.loss_at[dev]
                self._event(f"device.loss:{dev}", Clear("no message lost for 30 min"), now)

    def _bad_data(self, now: datetime) -> None:
        """Devices that keep sending what ingest rejects (``device.bad_data``), or whose clock is off
        (``device.clock_skew``: timestamps rejected as too far ahead/behind, or accepted ones ahead of arrival)."""
        hour_ago = now - timedelta(hours=1)
        rows = self.conn.execute(
            "SELECT device_id, count(*), mode() WITHIN GROUP (ORDER BY reason),"
            " count(*) FILTER (WHERE reason IN ('clock_future', 'clock_past'))"
            " FROM dead_letters WHERE received_at > %s AND device_id IS NOT NULL GROUP BY 1",
            (hour_ago,),
        ).fetchall()
        ahead: dict[str, float] = dict(
            self.conn.execute(  # device time well past our clock: cheap to find (time index), caught within seconds
                "SELECT device_id, max(extract(epoch FROM time - received_at)) FROM ("
                " SELECT device_id, time, received_at FROM air_quality WHERE time > %(t)s UNION ALL"
                " SELECT device_id, time, received_at FROM bus_positions WHERE time > %(t)s UNION ALL"
                " SELECT device_id, time, received_at FROM parking_events WHERE time > %(t)s) x"
                " GROUP BY 1 HAVING max(time - received_at) > interval '30 seconds'",
                {"t": now + timedelta(seconds=30)},
            ).fetchall()
        )
        bad = {dev: (int(n), str(reason)) for dev, n, reason, _clock in rows if n >= 5}
        skewed: dict[str, str] = {
            dev: f"{int(n)} message(s) rejected for their timestamp" for dev, _n, _r, n in rows if n
        }
        skewed |= {dev: f"timestamps {float(s):.0f}s ahead of arrival" for dev, s in ahead.items()}
        for rule, current in (("device.bad_data", bad), ("device.clock_skew", skewed)):
            wanted = {
                dev: rules.data_event(rule, dev, self.kind_of.get(dev, ""), info)
                for dev, info in current.items()
            }
            self._reconcile(rule, wanted, now, "none in the last hour")

    def _delivery(self, now: datetime) -> None:
        """Sinks not getting notifications out (``platform.notifications``): one failing or hanging for
        ``delivery.late_s``, or held back by its cap for ``delivery.held_s`` (see analytics.delivery)."""
        held = {
            sink: (n, since)
            for sink, n, since in self.conn.execute(
                "SELECT sink, held, held_since FROM outbox_cursors WHERE held > 0"
            ).fetchall()
        }
        states = []
        for sink in self.dispatcher.sinks:
            waiting, oldest = outbox.pending(self.conn, sink)
            error, attempts = None, 0
            if waiting and oldest is not None and oldest >= self.rules.delivery.late_s:
                row = self.conn.execute(
                    "SELECT last_error, attempts FROM alert_deliveries WHERE sink = %s AND delivered_at IS NULL"
                    " ORDER BY outbox_id LIMIT 1",
                    (sink,),
                ).fetchone()
                if row is not None:
                    error, attempts = row
            n, since = held.get(sink, (0, None))
            states.append(delivery.SinkState(sink, waiting, oldest, error, attempts, n, since))
        self._reconcile(
            delivery.RULE, delivery.troubled(states, self.rules.delivery, now), now, "delivering again"
        )

    def _escalate(self, now: datetime) -> None:
        """Critical alerts unacknowledged past their rule's ``escalate_after_s`` (the rules file's policy for
        the rule, else the service's default; ``null``: never) are escalated, and up the rule's chain
        (``escalate_again_after_s``) while nobody acknowledges them; unless under maintenance. Only alerts
        that may be due are read (older than the shortest time any policy sets for their level)."""
        policies = (self.policy, *self.rules.policies.values())
        first = min((p.escalate_after_s for p in policies if p.escalate_after_s is not None), default=None)
        again = min((t for p in policies for t in p.escalate_again_after_s), default=None)
        if first is None and again is None:
            return
        due_if, bounds = [], []  # by level: not yet escalated (since it opened), or escalated (since then)
        if first is not None:
            due_if.append("(escalation_level = 0 AND coalesce(open_since, opened_at) <= %s)")
            bounds.append(now - timedelta(seconds=first))
        if again is not None:
            due_if.append("(escalation_level > 0 AND escalated_at <= %s)")
            bounds.append(now - timedelta(seconds=again))
        rows = self.conn.execute(
            "SELECT id, subject, rule, coalesce(open_since, opened_at), escalated_at, escalation_level FROM alerts"
            f" WHERE state = 'open' AND severity = 3 AND muted_by IS NULL AND ({' OR '.join(due_if)})",
            bounds,
        ).fetchall()
        for alert_id, subject, rule, since, escalated_at, level in rows:
            policy = self.rules.policy_for(rule, self.policy)
            due = next_escalation(since, escalated_at, level, policy)
            if due is None or now < due[1]:
                continue
            if muting_window(self.conn, subject, rule, now) is None:
                store.apply(self.conn, Tick(), now, alert_id=alert_id, policy=policy)

    def _remind(self, now: datetime) -> None:
        """Acknowledged alerts still active past their rule's ``remind_after_s`` go back to open, notified
        (``reminded``): an acknowledged alert nobody resolves is not forgotten. Not under maintenance."""
        self._tick_due(
            "remind_after_s", "acknowledged_at", "state = 'acknowledged' AND condition_active", now
        )

    def _tick_due(self, field: str, since: str, where: str, now: datetime) -> None:
        """Tick the alerts (``where``) whose rule's policy ``field`` has passed since ``since``, unless under
        maintenance. Only alerts older than the shortest such time any policy sets are read (none at all when
        no policy sets one)."""
        times = [getattr(p, field) for p in (self.policy, *self.rules.policies.values())]
        soonest = min((t for t in times if t is not None), default=None)
        if soonest is None:
            return
        rows = self.conn.execute(
            f"SELECT id, subject, rule, {since} FROM alerts WHERE {where} AND muted_by IS NULL AND {since} <= %s",
            (now - timedelta(seconds=soonest),),
        ).fetchall()
        for alert_id, subject, rule, at in rows:
            policy = self.rules.policy_for(rule, self.policy)
            wait = getattr(policy, field)
            if wait is None or at is None or now - at < timedelta(seconds=wait):
                continue
            if muting_window(self.conn, subject, rule, now) is None:
                store.apply(self.conn, Tick(), now, alert_id=alert_id, policy=policy)

    # -- driving -----------------------------------------------------------
    def step(
        self,
        now: datetime | None = None,
        health: bool = True,
        devices: list[tuple[str, str, str]] | None = None,
    ) -> int:
        """One evaluation; ``devices``: the registry, when a partitioned worker read it once for all its partitions."""
        now = now or datetime.now(UTC)
        self._reload_rules()
        self._refresh_registry(devices)
        safe = now - timedelta(seconds=self.a.lateness_s)
        if self.cursor is None and self.zonal:  # first run: start from the oldest reading there is
            only, params = self._only()
            oldest = self.conn.execute(
                f"SELECT min(time) FROM air_quality WHERE true {only}", params
            ).fetchone()
            if oldest and oldest[0]:
                self.cursor = oldest[0] - timedelta(microseconds=1)
        n = 0
        first = self.cursor
        while self.cursor is not None and self.cursor < safe:  # in slices: a long backfill saves progress
            upto = min(safe, self.cursor + timedelta(hours=6))
            n += self._air_quality(self.cursor, upto, upto if upto < safe else now)
            self.cursor = upto
            self._save_state()
            if first is not None and safe - first > timedelta(hours=12):  # a backfill: say how far it got
                done = (upto - first) / (safe - first)
                if self.progress is not None:  # a progress bar on a terminal (citywatch analytics --from)
                    self.progress(upto, done, n)
                else:
                    log.info(
                        "evaluated up to %s (%3.0f%%, %d readings)",
                        upto.isoformat(timespec="minutes"),
                        100 * done,
                        n,
                    )
        if (
            self.cursor is not None and self.cursor >= safe
        ):  # the minutes younger than the lateness, if complete
            n += self._air_quality(self.cursor, safe, now)
        if self.zonal:
            self._cctv(safe, now, live=health)
            self._parking(safe, now)
        if self.citywide:
            self._refresh_rollups()
            self._privacy()
        if health and self.citywide:
            self._health(now)
            self._loss(now)
            self._bad_data(now)
            self._delivery(now)
            self._escalate(now)
            self._remind(now)
            if released := store.release(self.conn, now):
                log.info("maintenance ended: %d muted alert(s) notified now", released)
            if muted := store.mute_started(self.conn, now):
                log.info("maintenance started: %d live alert(s) muted", muted)
        return n

    def evaluate_range(self, start: datetime, end: datetime) -> int:
        """Backfill / re-evaluation of [start, end] (device health is live-only): the air quality, and the
        CCTV and parking events of the whole range (each stream from ``start`` unless it is already
        further back)."""
        if self.cursor is None or self.cursor > start:
            self.cursor = start
        for stream in ("cctv", "parking"):
            if stream not in self.stream_cursor or self.stream_cursor[stream] > start:
                self.stream_cursor[stream] = start
        return self.step(end + timedelta(seconds=self.a.lateness_s), health=False)

    def run(self) -> None:
        log.info(
            "analytics running: every %.1fs, lateness %.0fs; notifying %s",
            self.a.poll_s,
            self.a.lateness_s,
            ", ".join(self.dispatcher.sinks) or "nobody",
        )
        pulse = IngestPulse(self.settings.db.url, self._stop)
        metrics.serve(self.metrics.registry, self.settings.metrics_host, self.a.metrics_port, "analytics")
        while not self._stop.is_set():
            started = time.monotonic()
            if not self._lead():
                self.metrics.active.set(0)
                self.metrics.partitions.set(0)
                self._stop.wait(min(1.0, self.a.poll_s))
                continue
            self.metrics.active.set(1)
            self.metrics.partitions.set(1)
            try:
                # data as soon as ingest commits it; device health on the poll interval
                now = datetime.now(UTC)
                due = self._last_health is None or (now - self._last_health).total_seconds() >= self.a.poll_s
                if due:
                    self._last_health = now
                with self.metrics.step_seconds.time():
                    self.step(now, health=due)  # _lead() has just checked the lock is still ours
                self.steps += 1
                self.metrics.steps.inc()
                self.metrics.evaluated_up_to(self.cursor)
            except psycopg.Error as e:
                log.error("analytics step failed (%s); retrying", str(e).strip().splitlines()[0])
                self.metrics.step_errors.inc()
                self._reconnect()
            pulse.wait(started, self.a.poll_s)
        pulse.close()
        if self.active:
            self.dispatcher.stop()
        self.leadership.close()
        self.conn.close()

    def _lead(self) -> bool:
        """Hold the leadership, taking over (from the saved state) when it comes free; False: standby."""
        if self.leadership.hold():
            if not self.active:
                log.info("analytics: active (resuming from the saved state)")
                self._standing_by = False
                self._load_state()
                self.dispatcher.start()
                self.active = True
            return True
        if self.active:
            log.warning("analytics: no longer the active instance; standing by")
            self.dispatcher.stop()
            self.active = False
        elif not self._standing_by:
            log.info("analytics: another instance is active; standing by to take over")
        self._standing_by = True
        return False

    def _reconnect(self) -> None:
        try:
            self.conn.close()
            self.conn = psycopg.connect(
                self.settings.db.url, autocommit=True, application_name="citywatch-analytics"
            )
        except psycopg.Error:
            pass

    def stop(self) -> None:
        self._stop.set()


__all__ = ["AnalyticsService"]
