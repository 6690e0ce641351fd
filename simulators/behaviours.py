"""What each simulated device does (pure, seeded): given the simulated time,
the payloads it publishes next. Faults are applied by the engine."""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from citywatch.contracts import messages as m
from simulators.city import City, Device, Lot, Route

Payload = m.Telemetry


def ts(t: float) -> datetime:
    return datetime.fromtimestamp(round(t, 3), UTC)


def hour_of_day(t: float, utc_offset_h: float = 9.0) -> float:  # Korea Standard Time
    return ((t / 3600.0) + utc_offset_h) % 24.0


def traffic(h: float) -> float:
    """Traffic intensity, 0.3 at night, ~1.0 at the 08:00 and 19:00 peaks."""
    return 0.3 + 0.7 * (math.exp(-((h - 8.0) ** 2) / 2.0) + math.exp(-((h - 19.0) ** 2) / 3.0))


@dataclass(frozen=True, slots=True)
class Episode:
    """A pollution episode that every station of its zones sees (ground truth)."""

    zones: tuple[str, ...]
    start: float
    end: float
    factor: float

    def factor_at(self, zone: str, t: float) -> float:
        if zone not in self.zones or not self.start <= t < self.end:
            return 1.0
        ramp = min(1.0, (t - self.start) / 5400.0, (self.end - t) / 5400.0)  # 90-minute build-up and decay
        return 1.0 + (self.factor - 1.0) * max(0.0, ramp)


@dataclass
class Behaviour:
    device: Device
    rng: random.Random
    next_t: float

    def step(self, t: float) -> list[Payload]:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class AirQualityStation(Behaviour):
    episodes: list[Episode] = field(default_factory=list)
    interval: float = 60.0
    base_pm25: float = 18.0

    def step(self, t: float) -> list[Payload]:
        self.next_t = t + self.interval
        r, h = self.rng, hour_of_day(t)
        ep = max((e.factor_at(self.device.zone, t) for e in self.episodes), default=1.0)
        tr = traffic(h)
        pm25 = max(0.0, self.base_pm25 * (0.6 + 0.6 * tr) * ep + r.gauss(0, 2.0))
        pm10 = max(pm25, pm25 * 1.7 + r.gauss(0, 3.0))
        sun = max(0.0, math.sin(math.pi * (h - 6.0) / 14.0)) if 6.0 <= h <= 20.0 else 0.0
        return [
            m.AirQualityReading(
                device_id=self.device.device_id,
                ts=ts(t),
                seq=0,
                pm10=round(pm10, 1),
                pm25=round(pm25, 1),
                o3=round(max(0.0, 0.012 + 0.045 * sun + r.gauss(0, 0.003)), 4),
                no2=round(max(0.0, 0.010 + 0.030 * tr + r.gauss(0, 0.002)), 4),
                co=round(max(0.0, 0.30 + 0.40 * tr + r.gauss(0, 0.03)), 3),
                so2=round(max(0.0, 0.003 + r.gauss(0, 0.0005)), 4),
                temp_c=round(12.0 + 7.0 * math.sin(math.pi * (h - 9.0) / 12.0) + r.gauss(0, 0.3), 1),
                rh=round(min(100.0, max(5.0, 60.0 - 20.0 * sun + r.gauss(0, 2.0))), 1),
            )
        ]


@dataclass
class ParkingSensor(Behaviour):
    lot: Lot | None = None
    occupied: bool = False
    heartbeat_s: float = 600.0
    next_heartbeat: float = 0.0
    next_toggle: float = 0.0
    battery: float = 100.0

    def occupancy_target(self, t: float) -> float:
        h = hour_of_day(t)
        day = math.exp(-((h - 13.0) ** 2) / 18.0)
        return 0.15 + 0.8 * day if self.lot and self.lot.profile == "commuter" else 0.9 - 0.6 * day

    def _schedule_toggle(self, t: float) -> None:
        p = self.occupancy_target(t)
        mean_stay = 5400.0  # an occupied space frees after 1.5 h on average
        rate = 1.0 / mean_stay if self.occupied else p / ((1.0 - p) * mean_stay + 1e-9)
        self.next_toggle = t + self.rng.expovariate(max(rate, 1e-6))

    def step(self, t: float) -> list[Payload]:
        reason: Literal["change", "heartbeat"]
        if self.next_toggle == 0.0:
            self.occupied = self.rng.random() < self.occupancy_target(t)
            self._schedule_toggle(t)
            self.next_heartbeat = t + self.heartbeat_s
            reason = "heartbeat"
        elif self.next_toggle <= self.next_heartbeat:
            self.occupied = not self.occupied
            self._schedule_toggle(t)
            reason = "change"
        else:
            self.next_heartbeat = t + self.heartbeat_s
            reason = "heartbeat"
        self.battery = max(0.0, self.battery - 0.0005)
        self.next_t = min(self.next_toggle, self.next_heartbeat)
        assert self.lot is not None
        return [
            m.ParkingSpaceState(
                device_id=self.device.device_id,
                ts=ts(t),
                seq=0,
                lot_id=self.lot.lot_id,
                space_id=str(self.device.meta.get("space_id", self.device.device_id)),
                occupied=self.occupied,
                reason=reason,
                battery_pct=round(self.battery, 2),
                rssi_dbm=round(-70 + self.rng.gauss(0, 5), 1),
            )
        ]


_EVENT_WEIGHTS: dict[str, dict[str, float]] = {
    "school": {"child_zone_entry": 4, "loitering": 3, "intrusion": 1, "fall": 1, "crowd": 1},
    "park": {"loitering": 3, "fall": 2, "fight": 1, "crowd": 2, "abandoned_object": 1, "smoke": 0.2},
    "road": {"wrong_way": 3, "illegal_parking": 5, "crowd": 1, "fire": 0.1},
    "market": {"crowd": 4, "fight": 1, "abandoned_object": 2, "smoke": 0.3, "fire": 0.1},
}
_OBJECT = {
    "wrong_way": "vehicle",
    "illegal_parking": "vehicle",
    "fire": "fire",
    "smoke": "smoke",
    "abandoned_object": "object",
}


@dataclass
class Camera(Behaviour):
    rate_per_h: float = 3.0
    burst_left: int = 0
    burst_type: str = ""

    def step(self, t: float) -> list[Payload]:
        r = self.rng
        if self.burst_left > 0:
            etype = self.burst_type
            self.burst_left -= 1
            self.next_t = (
                t + r.uniform(2.0, 8.0) if self.burst_left else t + r.expovariate(self.rate_per_h / 3600)
            )
        else:
            weights = _EVENT_WEIGHTS[str(self.device.meta.get("area", "road"))]
            etype = r.choices(list(weights), list(weights.values()))[0]
            if r.random() < 0.05:
                self.burst_left, self.burst_type = r.randint(4, 12), etype
                self.next_t = t + r.uniform(2.0, 8.0)
            else:
                self.next_t = t + r.expovariate(self.rate_per_h / 3600)
        x, y = r.uniform(0, 0.8), r.uniform(0, 0.8)
        event_id = uuid.UUID(int=r.getrandbits(128), version=4)
        return [
            m.CctvEvent(
                device_id=self.device.device_id,
                ts=ts(t),
                seq=0,
                event_id=str(event_id),
                event_type=m.CctvEventType(etype),
                confidence=round(r.uniform(0.55, 0.99), 3),
                object_class=m.ObjectClass(_OBJECT.get(etype, "person")),
                bbox=m.BoundingBox(
                    x=round(x, 3),
                    y=round(y, 3),
                    w=round(r.uniform(0.05, 0.2), 3),
                    h=round(r.uniform(0.05, 0.2), 3),
                ),
                zone=self.device.zone,
                object_count=r.randint(8, 60) if etype == "crowd" else None,
                plate=_plate(event_id.int) if etype in _PLATE_READ else None,
            )
        ]


_PLATE_READ = ("illegal_parking", "wrong_way")  # ANPR reads the vehicle's plate
_HANGUL = "가나다라마거너더러머버서어저고노도로모보소오조구누두루무부수우주하허호"


def _plate(n: int) -> str:
    """A Korean-style plate (e.g. 12가3456) derived from the event id, so the simulation's random
    stream is not disturbed."""
    return f"{n % 90 + 10}{_HANGUL[n // 90 % len(_HANGUL)]}{n // 9000 % 9000 + 1000}"


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def bearing_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    y = math.sin(lo2 - lo1) * math.cos(la2)
    x = math.cos(la1) * math.sin(la2) - math.sin(la1) * math.cos(la2) * math.cos(lo2 - lo1)
    return (math.degrees(math.atan2(y, x)) + 360.0) % 360.0


@dataclass
class Bus(Behaviour):
    """Drives its route stop to stop, dwelling with the door open; turns at terminals."""

    path: list[tuple[float, float]] = field(default_factory=list)
    route: Route | None = None
    interval: float = 5.0
    leg: int = 0  # travelling from path[leg] to path[leg + 1]
    pos_m: float = 0.0
    dwell_left: float = 0.0
    cruise_kmh: float = 28.0
    stop_ids: list[str] = field(default_factory=list)  # the stop at each point of ``path``
    desk: Any = None  # a simulators.drivers.DriverDesk when drivers listen to their terminals

    def _arrive(self, t: float) -> None:
        """At a stop: stop if passengers wait (unless this driver passes anyway), else now and then."""
        stop = self.stop_ids[self.leg] if self.stop_ids else None
        if self.desk is not None and stop is not None and self.desk.requested(self.device.device_id, stop):
            passes = self.desk.decide_pass(self.device.device_id, stop, t)
            self.dwell_left = 0.0 if passes else self.rng.uniform(15.0, 30.0)
        elif self.rng.random() < 0.6:
            self.dwell_left = self.rng.uniform(15.0, 30.0)

    def step(self, t: float) -> list[Payload]:
        self.next_t = t + self.interval
        r = self.rng
        a, b = self.path[self.leg], self.path[self.leg + 1]
        length = max(1.0, haversine_m(a, b))
        speed = 0.0
        if self.dwell_left > 0:
            self.dwell_left -= self.interval
        else:
            speed = max(5.0, self.cruise_kmh + r.gauss(0, 4.0))
            self.pos_m += speed / 3.6 * self.interval
            if self.pos_m >= length:
                self.pos_m = 0.0
                self.leg += 1
                if self.leg >= len(self.path) - 1:  # terminal: turn round (or loop)
                    self.leg = 0
                    if self.route is not None and not self.route.loop:
                        self.path.reverse()
                        self.stop_ids.reverse()
                    self.dwell_left = 60.0
                else:
                    self._arrive(t)
                a, b = self.path[self.leg], self.path[self.leg + 1]
                length = max(1.0, haversine_m(a, b))
        f = min(1.0, self.pos_m / length)
        lat = a[0] + (b[0] - a[0]) * f + r.gauss(0, 0.00003)
        lon = a[1] + (b[1] - a[1]) * f + r.gauss(0, 0.00003)
        assert self.route is not None
        return [
            m.BusPosition(
                device_id=self.device.device_id,
                ts=ts(t),
                seq=0,
                route_id=self.route.route_id,
                lat=round(lat, 6),
                lon=round(lon, 6),
                speed_kmh=round(speed, 1),
                heading_deg=round(bearing_deg(a, b), 1) % 360.0,
                door_open=self.dwell_left > 0,
            )
        ]


@dataclass
class StopPanel(Behaviour):
    """A stop's bell panel (or the app gateway): passengers request their route."""

    routes: list[tuple[str, str]] = field(default_factory=list)  # (stop_id, route_id) it can request
    rate_per_h: float = 4.0
    pending: list[tuple[float, m.StopRequest]] = field(default_factory=list)  # cancels due later

    def step(self, t: float) -> list[Payload]:
        r = self.rng
        due = [p for p in self.pending if p[0] <= t]
        if due:
            self.pending = [p for p in self.pending if p[0] > t]
            req = due[0][1]
            out: list[Payload] = [req.model_copy(update={"ts": ts(t), "action": "cancel"})]
        else:
            stop_id, route_id = r.choice(self.routes)
            is_app = bool(self.device.meta.get("gateway"))
            req = m.StopRequest(
                device_id=self.device.device_id,
                ts=ts(t),
                seq=0,
                request_id=str(uuid.UUID(int=r.getrandbits(128), version=4)),
                stop_id=stop_id,
                route_id=route_id,
                passengers=r.choice((1, 1, 1, 2, 2, 3)),
                source="app" if is_app else "button",
                wheelchair=r.random() < 0.05,
            )
            out = [req]
            if r.random() < 0.1:
                self.pending.append((t + r.uniform(60, 180), req))
        nxt = t + r.expovariate(self.rate_per_h / 3600)
        self.next_t = min([nxt, *[p[0] for p in self.pending]])
        return out


def behaviours(
    city: City, start: float, seed: int, episodes: list[Episode], desk: Any = None
) -> list[Behaviour]:
    """One behaviour per device, each with its own seeded random stream."""
    out: list[Behaviour] = []
    lots = {lot.lot_id: lot for lot in city.lots}
    routes = {rt.route_id: rt for rt in city.routes}
    serving: dict[str, list[str]] = {}
    for rt in city.routes:
        for sid in rt.stops:
            serving.setdefault(sid, []).append(rt.route_id)
    for d in city.devices:
        rng = random.Random(f"{seed}:{d.device_id}")
        first = start + rng.uniform(0, min(d.expected_interval_s or 60.0, 60.0))
        kind = d.kind.value
        if kind == "aq":
            out.append(AirQualityStation(d, rng, first, episodes=episodes, base_pm25=rng.uniform(12, 24)))
        elif kind == "parking":
            out.append(ParkingSensor(d, rng, first, lot=lots[str(d.lot_id)]))
        elif kind == "cctv":
            out.append(Camera(d, rng, first, rate_per_h=rng.uniform(1.0, 6.0)))
        elif kind == "bus":
            rt = routes[str(d.meta["route_id"])]
            path = [(city.stops[s].lat, city.stops[s].lon) for s in rt.stops]
            ids = list(rt.stops)
            if rt.loop:
                path.append(path[0])
                ids.append(ids[0])
            n_bus = int(d.device_id[-2:]) - 1
            bus = Bus(d, rng, first, path=path, route=rt, stop_ids=ids, desk=desk)
            bus.leg = (n_bus * (len(path) - 1) // 3) % (len(path) - 1)
            out.append(bus)
        elif d.meta.get("gateway"):
            pairs = [(s, r_) for s, rs in serving.items() for r_ in rs]
            out.append(StopPanel(d, rng, first, routes=pairs, rate_per_h=12.0))
        else:
            sid = str(d.meta["stop_id"])
            out.append(StopPanel(d, rng, first, routes=[(sid, r_) for r_ in serving[sid]]))
    return out
