"""Positions along a route's path (pure): local metric projection, polyline
projection, distances along the path."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property

EARTH_M = 6_371_000.0

LatLon = tuple[float, float]


def to_xy(p: LatLon, origin: LatLon) -> tuple[float, float]:
    """Equirectangular metres around ``origin`` (plenty within a city)."""
    lat0 = math.radians(origin[0])
    return (
        math.radians(p[1] - origin[1]) * math.cos(lat0) * EARTH_M,
        math.radians(p[0] - origin[0]) * EARTH_M,
    )


def distance_m(a: LatLon, b: LatLon) -> float:
    x, y = to_xy(b, a)
    return math.hypot(x, y)


@dataclass(frozen=True, slots=True)
class Projection:
    along_m: float  # distance from the path's start to the closest point
    offset_m: float  # how far the position is from the path
    segment: int


@dataclass(frozen=True)
class Path:
    points: tuple[LatLon, ...]

    def __post_init__(self) -> None:
        if len(self.points) < 2:
            raise ValueError("a path needs at least two points")

    @property
    def origin(self) -> LatLon:
        return self.points[0]

    @cached_property
    def xy(self) -> list[tuple[float, float]]:
        return [to_xy(p, self.origin) for p in self.points]

    @cached_property
    def cumulative(self) -> list[float]:
        xy = self.xy
        out = [0.0]
        for (x0, y0), (x1, y1) in itertools.pairwise(xy):
            out.append(out[-1] + math.hypot(x1 - x0, y1 - y0))
        return out

    @property
    def length_m(self) -> float:
        return self.cumulative[-1]

    def project(self, p: LatLon, near_m: float | None = None, after_m: float | None = None) -> Projection:
        """The closest point of the path to ``p``. With ``near_m``, prefer the closest point within
        ±1 km of that distance along the path (a loop or a road that doubles back passes a spot twice);
        with ``after_m``, the closest point at or beyond that distance (the next stop of a trip, however
        far: a stop is never behind the previous one)."""
        px, py = to_xy(p, self.origin)
        xy = self.xy
        cum = self.cumulative
        best: Projection | None = None
        best_key = math.inf
        for i, ((x0, y0), (x1, y1)) in enumerate(itertools.pairwise(xy)):
            dx, dy = x1 - x0, y1 - y0
            seg2 = dx * dx + dy * dy
            t = 0.0 if seg2 == 0 else max(0.0, min(1.0, ((px - x0) * dx + (py - y0) * dy) / seg2))
            cx, cy = x0 + t * dx, y0 + t * dy
            off = math.hypot(px - cx, py - cy)
            along = cum[i] + t * math.sqrt(seg2)
            key = off + (0.0 if near_m is None or abs(along - near_m) <= 1000 else 10_000.0)
            if after_m is not None and along < after_m - 1e-6:
                key += 1_000_000.0
            if key < best_key:
                best_key, best = key, Projection(along, off, i)
        assert best is not None
        return best
