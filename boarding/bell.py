"""Boarding-bell state (pure): what passengers ask for at each stop, and what
each bus does at each stop.

* :class:`Demand` — the requests waiting at one stop for one route: several
  requests merge (passengers add up, wheelchair if any), a cancel removes its
  passengers, requests expire after ``ttl_s``.
* :class:`StopPassage` — follows one bus along its direction and reports, for
  every stop it goes by, whether it **served** it (it dwelt within
  ``radius_m``: slow, door open) or **passed** it without stopping.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Request:
    request_id: str
    passengers: int
    wheelchair: bool
    at: float  # epoch seconds


@dataclass
class Demand:
    stop_id: str
    route_id: str
    ttl_s: float = 1800.0
    requests: dict[str, Request] = field(default_factory=dict)

    def add(self, r: Request) -> None:
        self.requests[r.request_id] = r

    def cancel(self, request_id: str) -> bool:
        return self.requests.pop(request_id, None) is not None

    def expire(self, now: float) -> list[Request]:
        gone = [r for r in self.requests.values() if now - r.at >= self.ttl_s]
        for r in gone:
            del self.requests[r.request_id]
        return gone

    @property
    def passengers(self) -> int:
        return sum(r.passengers for r in self.requests.values())

    @property
    def wheelchair(self) -> bool:
        return any(r.wheelchair for r in self.requests.values())

    @property
    def waiting(self) -> bool:
        return bool(self.requests)

    @property
    def request_ids(self) -> list[str]:
        return sorted(self.requests)

    def clear(self) -> list[Request]:
        gone = list(self.requests.values())
        self.requests.clear()
        return gone


@dataclass(frozen=True, slots=True)
class Passage:
    stop_id: str
    served: bool  # False: passed without stopping
    at: float


@dataclass
class StopPassage:
    """One bus on one direction of its route; stops as (stop_id, distance along the path)."""

    stops: list[tuple[str, float]]
    radius_m: float = 30.0
    slow_kmh: float = 5.0
    last_along: float | None = None
    dwelt: set[str] = field(default_factory=set)

    def update(self, t: float, along: float, speed_kmh: float, door_open: bool) -> list[Passage]:
        out: list[Passage] = []
        for sid, pos in self.stops:
            if abs(along - pos) <= self.radius_m and speed_kmh <= self.slow_kmh and door_open:
                self.dwelt.add(sid)
        if self.last_along is not None and along >= self.last_along:
            for sid, pos in self.stops:
                # the bus has just left the stop's circle on the far side
                if self.last_along <= pos + self.radius_m < along:
                    out.append(Passage(sid, sid in self.dwelt, t))
                    self.dwelt.discard(sid)
        self.last_along = along
        return out
