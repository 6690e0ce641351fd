"""The device-health step (city-wide, on the poll interval): which devices are offline (the database's
``device_health()``, the one definition the API and Grafana read too), which zones lost power or network together (one outage
alert instead of one per device, :mod:`analytics.outage`), which devices lose messages (sequence gaps)
or keep sending what ingest rejects or stamping it with a clock that is off."""

from __future__ import annotations

from datetime import datetime, timedelta

from alerts.model import Clear, Raise, Severity
from analytics import outage
from analytics import rules as events
from analytics.health import loss_alarm
from analytics.registry import StepContext
from citywatch.i18n import Text, place
from citywatch.settings import AnalyticsSettings

#: every active device as the platform judges it: the one definition of offline (migration 0018_device_health)
DEVICES_SQL = (
    "SELECT device_id, kind, coalesce(zone_id, ''), last_seen, will, will_at, silent_s, by_will, state,"
    " down_since FROM device_health(%s, %s, %s) WHERE registry_status = 'active'"
)


class DeviceHealth:
    def __init__(self, ctx: StepContext, settings: AnalyticsSettings) -> None:
        self.conn, self.alerts, self.registry, self.rules = ctx.conn, ctx.alerts, ctx.registry, ctx.rules
        self.a = settings
        self.gaps_seen: dict[str, int] | None = None  # device -> missing messages already accounted for
        self.loss_at: dict[str, datetime] = {}  # device -> when it last lost messages
        self.outage_seen: dict[str, tuple[str, ...]] = {}  # zone outage -> its devices when last raised

    def step(self, now: datetime) -> None:
        self.offline(now)
        self.loss(now)
        self.bad_data(now)

    def offline(self, now: datetime) -> None:
        rows = self.conn().execute(DEVICES_SQL, (now, self.a.offline_factor, self.a.offline_min_s)).fetchall()
        cfg = self.rules().outage
        offline: dict[str, Raise] = {}
        devices: list[outage.Device] = []
        for dev, kind, zone, last_seen, status, status_at, silent, will, state, since in rows:
            down = state == "offline"
            held = will and cfg.enabled and (now - status_at).total_seconds() < cfg.hold_s
            if down and not held:  # a Last Will waits a moment: it may be the first of a zone going dark
                offline[dev] = events.offline_event(dev, kind, silent or 0.0, last_seen, will)
            devices.append(outage.Device(dev, kind, zone, last_seen is not None or status is not None, since))
        # a zone whose devices went silent together is one outage, not a fault of each device
        live_outages = set(self.alerts.live(outage.RULE))
        found = outage.outages(devices, live_outages, cfg)
        severity = Severity[cfg.severity.upper()]
        for subject, o in found.items():
            if self.outage_seen.get(subject) != o.devices:  # new, or its devices changed: the alert says so
                self.outage_seen[subject] = o.devices
                self.alerts.apply(f"{outage.RULE}:{subject}", o.event(severity), now)
        for subject in live_outages - set(found):
            self.outage_seen.pop(subject, None)
            self.alerts.apply(
                f"{outage.RULE}:{subject}",
                Clear(Text("clear.zone.outage", {"n": cfg.min_devices})),
                now,
            )
        covered = outage.covered(found)
        offline = {dev: ev for dev, ev in offline.items() if dev not in covered}
        if (
            offline
        ):  # power is back: the last of a zone's devices to boot are not paged for being seconds slower
            # the devices of zone outages that cleared within hold_s get that long from the outage's end
            # to come back, as from their own Last Will
            booting = self.alerts.involved_in_resolved(outage.RULE, now - timedelta(seconds=cfg.hold_s), now)
            offline = {dev: ev for dev, ev in offline.items() if dev not in booting}
        self.alerts.reconcile(
            "device.offline",
            offline,
            now,
            Text("clear.device.offline"),
            {dev: Text("clear.device.outage", {"zone": place(f"zone:{z}", z)}) for dev, z in covered.items()},
        )

    def loss(self, now: datetime) -> None:
        """Sequence gaps that grow mean messages lost between device and platform (``device.loss``)."""
        rows: dict[str, int] = dict(
            self.conn()
            .execute("SELECT device_id, sum(gaps)::bigint FROM device_streams GROUP BY 1")
            .fetchall()
        )
        if self.gaps_seen is None:  # first look after a start: today's figures are the baseline
            self.gaps_seen = rows
            return
        kind_of = self.registry.kind_of
        for dev, gaps in rows.items():
            new = gaps - self.gaps_seen.get(dev, 0)
            self.gaps_seen[dev] = gaps
            if loss_alarm(new):
                self.loss_at[dev] = now
                self.alerts.apply(
                    f"device.loss:{dev}", events.loss_event(dev, kind_of.get(dev, ""), new, gaps), now
                )
        for dev, at in list(self.loss_at.items()):
            if now - at >= timedelta(minutes=30):
                del self.loss_at[dev]
                self.alerts.apply(f"device.loss:{dev}", Clear(Text("clear.device.loss")), now)

    def bad_data(self, now: datetime) -> None:
        """Devices that keep sending what ingest rejects (``device.bad_data``), or whose clock is off
        (``device.clock_skew``: timestamps rejected as too far ahead/behind, or accepted ones ahead of arrival)."""
        conn, kind_of = self.conn(), self.registry.kind_of
        rows = conn.execute(
            "SELECT device_id, count(*), mode() WITHIN GROUP (ORDER BY reason),"
            " count(*) FILTER (WHERE reason IN ('clock_future', 'clock_past'))"
            " FROM dead_letters WHERE received_at > %s AND device_id IS NOT NULL GROUP BY 1",
            (now - timedelta(hours=1),),
        ).fetchall()
        ahead: dict[str, float] = dict(
            conn.execute(  # device time well past our clock: cheap to find (time index), caught within seconds
                "SELECT device_id, max(extract(epoch FROM time - received_at)) FROM ("
                " SELECT device_id, time, received_at FROM air_quality WHERE time > %(t)s UNION ALL"
                " SELECT device_id, time, received_at FROM bus_positions WHERE time > %(t)s UNION ALL"
                " SELECT device_id, time, received_at FROM parking_events WHERE time > %(t)s) x"
                " GROUP BY 1 HAVING max(time - received_at) > interval '30 seconds'",
                {"t": now + timedelta(seconds=30)},
            ).fetchall()
        )
        bad = {dev: (int(n), str(reason)) for dev, n, reason, _clock in rows if n >= 5}
        skewed: dict[str, Text] = {
            dev: Text("why.device.clock_rejected", {"n": int(n)}) for dev, _n, _r, n in rows if n
        }
        skewed |= {dev: Text("why.device.clock_ahead", {"s": float(s)}) for dev, s in ahead.items()}
        for rule, current in (("device.bad_data", bad), ("device.clock_skew", skewed)):
            wanted = {
                dev: events.data_event(rule, dev, kind_of.get(dev, ""), info) for dev, info in current.items()
            }
            self.alerts.reconcile(rule, wanted, now, Text("clear.device.data"))
