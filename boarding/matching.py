"""Which bus should stop for a waiting passenger (pure).

Every in-service bus of the route is placed on the route's path from its
recent positions: its direction (the one along which it is moving), its
distance along that direction's path, and its speed. The stop's candidates
are the buses that have not yet passed it — ahead of them on their current
direction, or reachable after turning at the terminal (a bus running the other
way, or standing at a terminal), or, on a loop, anywhere (the next lap). The
nearest by distance along the path wins; the ETA uses its recent speed.
GPS jitter: a bus up to ``jitter_m`` past the stop still counts as at it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from boarding.geometry import LatLon
from boarding.gtfs import RouteDirection

MIN_SPEED_MS = 3.0  # for ETAs: a bus in traffic still moves


@dataclass(frozen=True, slots=True)
class Fix:
    t: float  # epoch seconds
    pos: LatLon
    speed_kmh: float


@dataclass(frozen=True, slots=True)
class Placement:
    bus_id: str
    direction: int
    along_m: float
    speed_ms: float
    at_terminal: bool


@dataclass(frozen=True, slots=True)
class Candidate:
    bus_id: str
    distance_m: float
    eta_s: float
    via_terminal: bool
    moving: bool = True  # False: standing (e.g. dwelling at a stop)


def place(
    bus_id: str,
    fixes: list[Fix],
    directions: list[RouteDirection],
    terminal_m: float = 60.0,
    previous: Placement | None = None,
    moving_m: float = 10.0,
) -> Placement | None:
    """Where a bus is on its route, from its recent fixes (oldest first). A bus that is not moving
    (dwelling at a stop: less than ``moving_m`` of progress) keeps its ``previous`` direction."""
    if not fixes or not directions:
        return None
    last = fixes[-1]
    best: tuple[float, RouteDirection, float] | None = None
    moved = 0.0
    for rd in directions:
        alongs = [rd.path.project(f.pos).along_m for f in fixes[-4:]]
        progress = alongs[-1] - alongs[0]
        if rd.loop and progress < -rd.path.length_m / 2:
            progress += rd.path.length_m  # crossed the loop's start
        moved = max(moved, abs(progress))
        offset = rd.path.project(last.pos).offset_m
        # the direction it is moving along, then the closest path
        key = (-progress if progress > 1.0 else 0.0) + offset / 1000
        if best is None or key < best[0]:
            best = (key, rd, alongs[-1])
    assert best is not None
    _, rd, along = best
    if moved < moving_m and previous is not None:
        kept = next((d for d in directions if d.direction == previous.direction), None)
        if kept is not None:
            rd, along = kept, kept.path.project(last.pos, near_m=previous.along_m).along_m
    speeds = [f.speed_kmh / 3.6 for f in fixes[-6:]]
    at_terminal = not rd.loop and (rd.path.length_m - along <= terminal_m)
    return Placement(bus_id, rd.direction, along, statistics.fmean(speeds), at_terminal)


def candidates(
    stop_id: str, placements: list[Placement], directions: list[RouteDirection], jitter_m: float = 30.0
) -> list[Candidate]:
    """Buses that will reach ``stop_id`` next, nearest first."""
    by_dir = {rd.direction: rd for rd in directions}
    out: list[Candidate] = []
    for p in placements:
        rd = by_dir.get(p.direction)
        if rd is None:
            continue
        length = rd.path.length_m
        dist: float | None = None
        via = False
        if stop_id in rd.stop_along:
            ahead = rd.stop_along[stop_id] - p.along_m
            if rd.loop:
                dist = ahead % length if ahead < -jitter_m else max(0.0, ahead)
            elif ahead >= -jitter_m and not p.at_terminal:
                dist = max(0.0, ahead)
        if dist is None and not rd.loop:  # after turning at the terminal, on the other direction
            for other in directions:
                if other.direction != rd.direction and stop_id in other.stop_along:
                    rest = 0.0 if p.at_terminal else max(0.0, length - p.along_m)
                    dist, via = rest + other.stop_along[stop_id], True
        if dist is not None:
            out.append(Candidate(p.bus_id, dist, dist / max(p.speed_ms, MIN_SPEED_MS), via, p.speed_ms > 1.5))
    return sorted(out, key=lambda c: c.distance_m)


def choose(stop_id: str, placements: list[Placement], directions: list[RouteDirection]) -> Candidate | None:
    found = candidates(stop_id, placements, directions)
    return found[0] if found else None
