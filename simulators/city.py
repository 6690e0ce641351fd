"""A small, plausible city, generated deterministically from a seed (pure).

Districts (zones) around a centre, air-quality stations, parking lots with one
sensor per space, CCTV cameras, bus routes with stops (a stop panel each), buses,
and one app gateway that forwards stop requests from the passenger app.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from citywatch.contracts.topics import DeviceKind

CENTRE = (37.2636, 127.0286)  # Suwon city hall
ZONES = ("jangan", "gwonseon", "paldal", "yeongtong")
# Suwon's four districts (구) and some of their neighbourhoods (동): the names people there use
ZONE_NAMES = {"jangan": "장안구", "gwonseon": "권선구", "paldal": "팔달구", "yeongtong": "영통구"}
DONGS = {
    "jangan": ("조원동", "정자동", "파장동", "율천동", "영화동", "연무동", "송죽동", "천천동"),
    "gwonseon": ("고색동", "호매실동", "권선동", "세류동", "금곡동", "곡선동", "입북동", "평동"),
    "paldal": ("인계동", "우만동", "행궁동", "지동", "매교동", "화서동", "매산동", "고등동"),
    "yeongtong": ("광교동", "영통동", "매탄동", "원천동", "망포동", "태장동", "신동", "이의동"),
}
AREA_NAMES = {"school": "학교 앞", "park": "공원", "road": "도로", "market": "시장"}
STOP_PLACES = ("주민센터", "사거리", "시장", "초등학교", "우체국", "입구", "공원", "아파트")


def _named(zone: str, n: int, what: str) -> str:
    """The ``n``-th ``what`` of a zone (a station, a lot) after one of its neighbourhoods; numbered once
    every neighbourhood has one."""
    dongs = DONGS[zone]
    name = f"{dongs[n % len(dongs)]} {what}"
    return name if n < len(dongs) else f"{name} {n // len(dongs) + 1}"


ZONE_OFFSETS = {
    "jangan": (0.03, -0.01),
    "gwonseon": (-0.01, -0.04),
    "paldal": (0.0, 0.01),
    "yeongtong": (-0.02, 0.04),
}


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    kind: DeviceKind
    name: str
    lat: float
    lon: float
    zone: str
    expected_interval_s: float
    lot_id: str | None = None
    meta: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Lot:
    lot_id: str
    name: str
    capacity: int
    lat: float
    lon: float
    zone: str
    profile: str  # "commuter" (fills by day) or "residential" (fills by night)


@dataclass(frozen=True, slots=True)
class Stop:
    stop_id: str
    name: str
    lat: float
    lon: float
    zone: str


@dataclass(frozen=True, slots=True)
class Route:
    route_id: str
    name: str
    stops: tuple[str, ...]  # in travel order; a loop route returns to its first stop
    loop: bool


@dataclass(frozen=True, slots=True)
class Scale:
    stations: int = 8
    lots: int = 4
    spaces_per_lot: int = 20
    cameras: int = 12
    routes: int = 3
    stops_per_route: int = 10
    buses_per_route: int = 3

    @property
    def devices(self) -> int:
        return (
            self.stations
            + self.lots * self.spaces_per_lot
            + self.cameras
            + self.routes * (self.stops_per_route + self.buses_per_route)
            + 1
        )


@dataclass
class City:
    seed: int
    devices: list[Device]
    lots: list[Lot]
    stops: dict[str, Stop]
    routes: list[Route]

    def of_kind(self, kind: DeviceKind) -> list[Device]:
        return [d for d in self.devices if d.kind is kind]

    def by_id(self) -> dict[str, Device]:
        return {d.device_id: d for d in self.devices}


def _near(rng: random.Random, zone: str, spread: float = 0.012) -> tuple[float, float]:
    dlat, dlon = ZONE_OFFSETS[zone]
    return (
        round(CENTRE[0] + dlat + rng.gauss(0, spread), 6),
        round(CENTRE[1] + dlon + rng.gauss(0, spread), 6),
    )


def nearest_zone(lat: float, lon: float) -> str:
    return min(
        ZONES,
        key=lambda z: (CENTRE[0] + ZONE_OFFSETS[z][0] - lat) ** 2
        + (CENTRE[1] + ZONE_OFFSETS[z][1] - lon) ** 2,
    )


def build_city(seed: int = 1, scale: Scale | None = None) -> City:
    sc = scale or Scale()
    rng = random.Random(seed)
    devices: list[Device] = []
    for i in range(sc.stations):
        zone = ZONES[i % len(ZONES)]
        lat, lon = _near(rng, zone)
        devices.append(
            Device(
                f"aq-{i + 1:03d}",
                DeviceKind.AIR_QUALITY,
                _named(zone, i // len(ZONES), "측정소"),
                lat,
                lon,
                zone,
                60.0,
            )
        )
    lots: list[Lot] = []
    for i in range(sc.lots):
        zone = ZONES[i % len(ZONES)]
        lat, lon = _near(rng, zone)
        lot = Lot(
            f"lot-{i + 1:02d}",
            _named(zone, i // len(ZONES), "공영주차장"),
            sc.spaces_per_lot,
            lat,
            lon,
            zone,
            "commuter" if i % 2 == 0 else "residential",
        )
        lots.append(lot)
        for j in range(sc.spaces_per_lot):
            devices.append(
                Device(
                    f"pk-{i + 1:02d}-{j + 1:03d}",
                    DeviceKind.PARKING,
                    f"{lot.name} {j + 1}번 면",
                    round(lat + rng.gauss(0, 0.0002), 6),
                    round(lon + rng.gauss(0, 0.0002), 6),
                    zone,
                    600.0,
                    lot_id=lot.lot_id,
                    meta={"space_id": f"S{j + 1:03d}"},
                )
            )
    for i in range(sc.cameras):
        zone = ZONES[i % len(ZONES)]
        lat, lon = _near(rng, zone)
        area = ("school", "park", "road", "market")[i % 4]
        devices.append(
            Device(
                f"cam-{i + 1:03d}",
                DeviceKind.CCTV,
                f"{DONGS[zone][(i // len(ZONES)) % len(DONGS[zone])]} {AREA_NAMES[area]} CCTV {i + 1}",
                lat,
                lon,
                zone,
                0.0,  # event-driven: silence is judged from its learned event rate (cctv.silent)
                meta={"area": area},
            )
        )
    stops: dict[str, Stop] = {}
    named: set[str] = set()
    routes: list[Route] = []
    for r in range(sc.routes):
        loop = r % 3 == 2
        angle = rng.uniform(0, 2 * math.pi)
        lat, lon = CENTRE[0] - 0.03 * math.cos(angle), CENTRE[1] - 0.04 * math.sin(angle)
        ids: list[str] = []
        for s in range(sc.stops_per_route):
            if loop:
                a = 2 * math.pi * s / sc.stops_per_route
                lat = CENTRE[0] + 0.02 * math.cos(a + angle)
                lon = CENTRE[1] + 0.025 * math.sin(a + angle)
            else:
                lat += 0.006 * math.cos(angle) + rng.gauss(0, 0.0008)
                lon += 0.008 * math.sin(angle) + rng.gauss(0, 0.0008)
            zone = nearest_zone(lat, lon)
            sid = f"st-{r + 1:02d}{s + 1:02d}"
            name = (
                f"{DONGS[zone][(r * 3 + s) % len(DONGS[zone])]} {STOP_PLACES[(r + 2 * s) % len(STOP_PLACES)]}"
            )
            if name in named:  # another route's stop has it: say which stop this is
                name = f"{name} ({r + 1}-{s + 1})"
            named.add(name)
            stops[sid] = Stop(sid, name, round(lat, 6), round(lon, 6), zone)
            ids.append(sid)
            devices.append(
                Device(
                    f"stop-{r + 1:02d}{s + 1:02d}",
                    DeviceKind.STOP,
                    f"{name} 승차벨",
                    stops[sid].lat,
                    stops[sid].lon,
                    zone,
                    0.0,  # event-driven
                    meta={"stop_id": sid},
                )
            )
        route = Route(f"r{r + 1}", f"{r + 1}번{' (순환)' if loop else ''}", tuple(ids), loop)
        routes.append(route)
        for b in range(sc.buses_per_route):
            first = stops[ids[0]]
            devices.append(
                Device(
                    f"bus-{r + 1:02d}{b + 1:02d}",
                    DeviceKind.BUS,
                    f"{r + 1}번 버스 {b + 1}호",
                    first.lat,
                    first.lon,
                    first.zone,
                    5.0,
                    meta={"route_id": route.route_id},
                )
            )
    devices.append(
        Device(
            "app-gateway",
            DeviceKind.STOP,
            "승차벨 앱 게이트웨이",
            CENTRE[0],
            CENTRE[1],
            "paldal",
            0.0,  # event-driven
            meta={"gateway": True},
        )
    )
    return City(seed, devices, lots, stops, routes)
