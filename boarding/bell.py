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
    loop_length_m: float | None = None  # set for a loop route: distance wraps to 0 at its start
    max_jump_m: float = 500.0  # farther than a bus drives between two fixes: a re-sync, not a drive-by
    last_along: float | None = None
    dwelt: set[str] = field(default_factory=set)

    def _crossed(self, start: float, end: float, t: float) -> list[Passage]:
        out = []
        for sid, pos in self.stops:
            if start <= pos + self.radius_m < end:  # it has just left the stop's circle on the far side
                out.append(Passage(sid, sid in self.dwelt, t))
                self.dwelt.discard(sid)
        return out

    def update(self, t: float, along: float, speed_kmh: float, door_open: bool) -> list[Passage]:
        for sid, pos in self.stops:
            near = abs(along - pos) <= self.radius_m or (
                self.loop_length_m is not None and abs(along - pos) >= self.loop_length_m - self.radius_m
            )
            if near and speed_kmh <= self.slow_kmh and door_open:
                self.dwelt.add(sid)
        out: list[Passage] = []
        last, self.last_along = self.last_along, along
        if last is None:
            return out
        step = along - last
        if self.loop_length_m is not None and step < -self.loop_length_m / 2:  # round the loop's start
            step += self.loop_length_m
            if step <= self.max_jump_m:
                return self._crossed(last, self.loop_length_m + self.radius_m + 1, t) + self._crossed(
                    -self.radius_m - 1, along, t
                )
            return out
        if 0 <= step <= self.max_jump_m:
            out = self._crossed(last, along, t)
        return out
