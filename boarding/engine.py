"""The boarding bell's decisions (pure: no MQTT, no SQL).

Inputs are the contracts' messages (stop requests, bus positions, driver acks)
and the passage of time; outputs are effects that the service executes:
publish a driver terminal's state, answer a requester, record a request's
status, record a served stop or a no-stop pass, raise an alert for the control
centre.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from boarding.bell import Demand, Passage, Request, StopPassage
from boarding.gtfs import Network, RouteDirection
from boarding.matching import Candidate, Fix, Placement, candidates, place
from citywatch.contracts import messages as m
from citywatch.i18n import Text
from citywatch.i18n import place as named


@dataclass(frozen=True, slots=True)
class DriverState:
    bus_id: str
    alert: m.DriverAlert


@dataclass(frozen=True, slots=True)
class Reply:
    device_id: str
    reply: m.RequestReply


@dataclass(frozen=True, slots=True)
class RequestStatus:
    request_id: str
    stop_id: str
    route_id: str
    status: str  # pending | assigned | fulfilled | cancelled | expired | rejected
    bus_id: str | None
    eta_s: float | None
    reason: str | None
    at: float


@dataclass(frozen=True, slots=True)
class PassRecord:
    bus_id: str
    route_id: str
    stop_id: str
    served: bool
    request_ids: tuple[str, ...]
    at: float


@dataclass(frozen=True, slots=True)
class ControlAlert:
    rule: str  # bus.no_stop_pass | bus.unacknowledged
    subject: str
    title: Text
    message: Text
    at: float
    details: dict[str, object] = field(default_factory=dict)


Effect = DriverState | Reply | RequestStatus | PassRecord | ControlAlert


@dataclass(frozen=True, slots=True)
class BellConfig:
    request_ttl_s: float = 1800.0
    fresh_s: float = 60.0  # positions older than this: the bus is not in service
    resend_s: float = 20.0  # an unacknowledged alert is sent again after this
    escalate_s: float = 60.0  # … and reported to the control centre after this
    no_bus_eta_s: float = 1800.0  # beyond this, "no bus expected"
    switch_gain_s: float = 120.0  # re-assign only to a bus this much sooner than the one already told
    min_notice_s: float = 8.0  # a moving bus closer than this cannot stop in time: the next one is told


@dataclass
class _Bus:
    bus_id: str
    route_id: str
    fixes: deque[Fix] = field(default_factory=lambda: deque(maxlen=6))
    placement: Placement | None = None
    passages: dict[int, StopPassage] = field(default_factory=dict)  # per direction
    last_seen: float = 0.0
    published: tuple[object, ...] | None = None


@dataclass
class _Waiting:
    demand: Demand
    origin: dict[str, str] = field(default_factory=dict)  # request id -> requesting device
    bus: Candidate | None = None
    assigned_at: float = 0.0
    acked: bool = False
    resent: int = 0
    escalated: bool = False
    told_no_bus: bool = False


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class Bell:
    def __init__(self, network: Network, config: BellConfig | None = None) -> None:
        self.net = network
        self.cfg = config or BellConfig()
        self.buses: dict[str, _Bus] = {}
        self.waiting: dict[tuple[str, str], _Waiting] = {}

    # -- helpers -------------------------------------------------------------
    def _dirs(self, route_id: str) -> list[RouteDirection]:
        return self.net.for_route(route_id)

    def _placements(self, route_id: str, now: float, exclude: set[str] = frozenset()) -> list[Placement]:  # type: ignore[assignment]
        return [
            b.placement
            for b in self.buses.values()
            if b.route_id == route_id
            and b.placement is not None
            and b.bus_id not in exclude
            and now - b.last_seen <= self.cfg.fresh_s
        ]

    def _reply(
        self, w: _Waiting, rid: str, status: str, now: float, reason: str | None = None
    ) -> list[Effect]:
        bus = w.bus.bus_id if w.bus else None
        eta = round(w.bus.eta_s, 1) if w.bus else None
        out: list[Effect] = [
            RequestStatus(
                rid,
                w.demand.stop_id,
                w.demand.route_id,
                "assigned" if status == "retargeted" else status,
                bus,
                eta,
                reason,
                now,
            )
        ]
        device = w.origin.get(rid)
        if device:
            out.append(
                Reply(
                    device,
                    m.RequestReply(
                        request_id=rid,
                        ts=_ts(now),
                        status=status,
                        reason=reason,
                        bus_id=bus,
                        eta_s=eta,
                    ),
                )
            )
        return out

    def _assign(
        self,
        key: tuple[str, str],
        now: float,
        exclude: set[str] = frozenset(),  # type: ignore[assignment]
        why: str = "assigned",
    ) -> list[Effect]:
        w = self.waiting[key]
        stop_id, route_id = key
        found = [
            c
            for c in candidates(stop_id, self._placements(route_id, now, exclude), self._dirs(route_id))
            if c.eta_s <= self.cfg.no_bus_eta_s
            and (
                not (c.moving and c.eta_s < self.cfg.min_notice_s)
                or (w.bus is not None and c.bus_id == w.bus.bus_id)
            )
        ]  # a moving bus too close to stop in time is skipped, unless it was already told
        best = found[0] if found else None
        before = w.bus.bus_id if w.bus else None
        current = next((c for c in found if c.bus_id == before), None)
        if current is not None and best is not None and best.eta_s > current.eta_s - self.cfg.switch_gain_s:
            best = current  # a driver who was told keeps the stop unless another bus is much sooner
        out: list[Effect] = []
        if best is None:
            w.bus = None
            if not w.told_no_bus:
                w.told_no_bus = True
                for rid in w.demand.request_ids:
                    out += self._reply(
                        w,
                        rid,
                        "no_bus",
                        now,
                        f"no bus of route {route_id} expected within {self.cfg.no_bus_eta_s / 60:.0f} min",
                    )
        else:
            w.bus = best
            if best.bus_id != before:
                w.assigned_at, w.acked, w.resent, w.escalated, w.told_no_bus = now, False, 0, False, False
                for rid in w.demand.request_ids:
                    out += self._reply(w, rid, why, now)
        for bus_id in {before, best.bus_id if best else None} - {None}:
            out += self._publish(bus_id, now)  # type: ignore[arg-type]
        return out

    def _publish(self, bus_id: str, now: float, force: bool = False) -> list[Effect]:
        """The terminal's whole state, if it changed."""
        stops = []
        for (stop_id, _route), w in self.waiting.items():
            if w.bus is None or w.bus.bus_id != bus_id or not w.demand.waiting:
                continue
            stop = self.net.stops[stop_id]
            stops.append(
                m.StopAlert(
                    stop_id=stop_id,
                    name=stop.name,
                    passengers=w.demand.passengers,
                    wheelchair=w.demand.wheelchair,
                    eta_s=round(w.bus.eta_s, 1),
                    distance_m=round(w.bus.distance_m, 1),
                    request_ids=w.demand.request_ids,
                    acknowledged=w.acked,
                )
            )
        stops.sort(key=lambda s: s.distance_m or 0.0)
        bus = self.buses.get(bus_id)
        # the terminal counts the time down itself between states; a new state when the estimate moves to
        # another minute corrects it (a bus held at lights, or faster than assumed)
        content = tuple(
            (s.stop_id, s.passengers, s.wheelchair, s.acknowledged, int((s.eta_s or 0) // 60)) for s in stops
        )
        if bus is not None and bus.published == content and not force:
            return []
        if bus is not None:
            bus.published = content
        route = bus.route_id if bus else None
        return [DriverState(bus_id, m.DriverAlert(bus_id=bus_id, ts=_ts(now), route_id=route, stops=stops))]

    def replace_network(self, network: Network, now: float) -> list[Effect]:
        """Run on a new transit feed from ``now`` on (the agency changed its routes): the requests waiting at
        a stop for a route the new feed does not run there are rejected, saying why, each told; the buses
        are placed afresh from their next position (a route's path may have moved); a terminal that
        showed a stop no longer served is told."""
        self.net = network
        out: list[Effect] = []
        gone: set[str] = set()
        for key, w in list(self.waiting.items()):
            stop_id, route_id = key
            if stop_id in network.stops and route_id in network.serving(stop_id):
                continue
            why = f"route {route_id} no longer serves stop {stop_id} (the transit feed changed)"
            if w.bus is not None:
                gone.add(w.bus.bus_id)
            w.bus = None
            for rid in w.demand.request_ids:
                out += self._reply(w, rid, "rejected", now, why)
            del self.waiting[key]
        for bus in self.buses.values():
            bus.placement, bus.passages = None, {}
        for bus_id in sorted(gone):
            out += self._publish(bus_id, now)
        return out

    # -- inputs ----------------------------------------------------------------
    def on_request(self, r: m.StopRequest, now: float) -> list[Effect]:
        key = (r.stop_id, r.route_id)
        if r.action == "cancel":
            w = self.waiting.get(key)
            if w is None or not w.demand.cancel(r.request_id):
                return [
                    RequestStatus(
                        r.request_id, r.stop_id, r.route_id, "cancelled", None, None, "nothing to cancel", now
                    )
                ]
            out: list[Effect] = [
                RequestStatus(r.request_id, r.stop_id, r.route_id, "cancelled", None, None, None, now),
                Reply(r.device_id, m.RequestReply(request_id=r.request_id, ts=_ts(now), status="cancelled")),
            ]
            bus = w.bus.bus_id if w.bus else None
            if not w.demand.waiting:
                del self.waiting[key]
            if bus:
                out += self._publish(bus, now)
            return out
        problem = None
        if r.stop_id not in self.net.stops:
            problem = f"unknown stop {r.stop_id}"
        elif r.route_id not in self.net.routes:
            problem = f"unknown route {r.route_id}"
        elif r.route_id not in self.net.serving(r.stop_id):
            problem = f"route {r.route_id} does not serve stop {r.stop_id}"
        if problem:
            return [
                RequestStatus(r.request_id, r.stop_id, r.route_id, "rejected", None, None, problem, now),
                Reply(
                    r.device_id,
                    m.RequestReply(request_id=r.request_id, ts=_ts(now), status="rejected", reason=problem),
                ),
            ]
        w = self.waiting.setdefault(key, _Waiting(Demand(r.stop_id, r.route_id, self.cfg.request_ttl_s)))
        new = r.request_id not in w.demand.requests
        w.demand.add(Request(r.request_id, r.passengers, r.wheelchair, now))
        w.origin[r.request_id] = r.device_id
        out = []
        if w.bus is None:
            out += self._assign(key, now)
        elif new:
            out += self._reply(w, r.request_id, "assigned", now)
            out += self._publish(w.bus.bus_id, now)
        if w.bus is None and new and not any(isinstance(e, Reply) for e in out):
            out += self._reply(w, r.request_id, "no_bus", now, f"no bus of route {r.route_id} expected")
        return out

    def on_position(self, p: m.BusPosition, now: float) -> list[Effect]:
        bus = self.buses.get(p.device_id)
        if bus is None or bus.route_id != p.route_id:
            bus = self.buses[p.device_id] = _Bus(p.device_id, p.route_id)
        t = p.ts.timestamp()
        if bus.fixes and t <= bus.fixes[-1].t:
            return []  # a late or repeated fix (redelivery, reordering): the bus is already past it
        bus.fixes.append(Fix(t, (p.lat, p.lon), p.speed_kmh))
        bus.last_seen = now
        dirs = self._dirs(p.route_id)
        bus.placement = place(p.device_id, list(bus.fixes), dirs, previous=bus.placement)
        out: list[Effect] = []
        if bus.placement is None:
            return out
        d = bus.placement.direction
        rd = next(r for r in dirs if r.direction == d)
        sp = bus.passages.setdefault(
            d,
            StopPassage(
                sorted(rd.stop_along.items(), key=lambda kv: kv[1]),
                loop_length_m=rd.path.length_m if rd.loop else None,
            ),
        )
        if len(bus.passages) > 1:
            # a new direction: forget the old one's progress, but not where the bus dwelt (a terminal stop is
            # where one direction ends and the next begins), and start from where it turned (the previous fix)
            for other in bus.passages.values():
                if other is not sp:
                    sp.dwelt |= other.dwelt
            if sp.last_along is None and len(bus.fixes) >= 2:
                sp.last_along = rd.path.project(bus.fixes[-2].pos).along_m
            bus.passages = {d: sp}
        for passage in sp.update(t, bus.placement.along_m, p.speed_kmh, p.door_open):
            out += self._passage(bus, passage, now)
        # keep ETAs fresh for the stops this bus is heading to
        for key, w in list(self.waiting.items()):
            if w.bus is not None and w.bus.bus_id == bus.bus_id:
                out += self._assign(key, now)
        return out

    def _passage(self, bus: _Bus, passage: Passage, now: float) -> list[Effect]:
        key = (passage.stop_id, bus.route_id)
        w = self.waiting.get(key)
        if w is None or not w.demand.waiting or w.bus is None or w.bus.bus_id != bus.bus_id:
            # nobody waiting, or waiting for another bus (the one that was told): nothing was missed here
            return []
        rids = tuple(w.demand.request_ids)
        out: list[Effect] = [
            PassRecord(bus.bus_id, bus.route_id, passage.stop_id, passage.served, rids, passage.at)
        ]
        if passage.served:
            for rid in rids:
                out += self._reply(w, rid, "fulfilled", now)
            w.demand.clear()
            del self.waiting[key]
            out += self._publish(bus.bus_id, now)
            return out
        stop = self.net.stops[passage.stop_id]
        out.append(
            ControlAlert(
                "bus.no_stop_pass",
                f"{bus.bus_id}:{passage.stop_id}",
                Text("alert.bus.no_stop_pass", {"bus": named(bus.bus_id), "stop": stop.name}),
                Text("why.bus.no_stop_pass", {"n": w.demand.passengers, "route": bus.route_id}),
                now,
                {
                    "bus_id": bus.bus_id,
                    "route_id": bus.route_id,
                    "stop_id": passage.stop_id,
                    "request_ids": list(rids),
                    "acknowledged": w.acked,
                },
            )
        )
        return out + self._assign(key, now, exclude={bus.bus_id}, why="retargeted")

    def on_ack(self, a: m.DriverAck, now: float) -> list[Effect]:
        out: list[Effect] = []
        for (stop_id, _route), w in self.waiting.items():
            if stop_id == a.stop_id and w.bus is not None and w.bus.bus_id == a.device_id and not w.acked:
                w.acked = True
                out += self._publish(a.device_id, now)
        return out

    def tick(self, now: float) -> list[Effect]:
        out: list[Effect] = []
        for key, w in list(self.waiting.items()):
            for r in w.demand.expire(now):
                out.append(
                    RequestStatus(
                        r.request_id,
                        key[0],
                        key[1],
                        "expired",
                        None,
                        None,
                        f"no bus within {self.cfg.request_ttl_s / 60:.0f} min",
                        now,
                    )
                )
                device = w.origin.get(r.request_id)
                if device:
                    out.append(
                        Reply(device, m.RequestReply(request_id=r.request_id, ts=_ts(now), status="expired"))
                    )
            if not w.demand.waiting:
                del self.waiting[key]
                if w.bus:
                    out += self._publish(w.bus.bus_id, now)
                continue
            if w.bus is None:
                out += self._assign(key, now)
                continue
            waited = now - w.assigned_at
            if not w.acked and waited >= self.cfg.resend_s * (w.resent + 1):
                w.resent += 1
                out += self._publish(w.bus.bus_id, now, force=True)
            if not w.acked and not w.escalated and waited >= self.cfg.escalate_s:
                w.escalated = True
                out.append(
                    ControlAlert(
                        "bus.unacknowledged",
                        f"{w.bus.bus_id}:{key[0]}",
                        Text("alert.bus.unacknowledged", {"bus": named(w.bus.bus_id)}),
                        Text(
                            "why.bus.unacknowledged",
                            {
                                "stop": self.net.stops[key[0]].name,
                                "n": w.demand.passengers,
                                "sent": w.resent + 1,
                            },
                        ),
                        now,
                        {"bus_id": w.bus.bus_id, "stop_id": key[0], "route_id": key[1]},
                    )
                )
        return out
