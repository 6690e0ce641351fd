"""The simulation engine (pure): device behaviours in time order, sequence
numbers, pollution episodes and injected faults with ground-truth labels.

:func:`simulate` yields :class:`Out` records; the publisher sends them over
MQTT and the labels go to a JSONL file for scoring detectors later.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from citywatch.contracts import messages as m
from citywatch.contracts.topics import DeviceKind, Stream, topic_for
from simulators.behaviours import Episode, behaviours, ts
from simulators.city import ZONES, City

FAULT_KINDS = ("stuck", "spike", "drift", "dropout", "offline", "malformed", "duplicate", "outage")
#: the broker announces a dead connection after 1.5 keepalives (30 s): a zone losing power is heard over this
OUTAGE_STAGGER_S = 45.0
MALFORMED: tuple[Callable[[bytes, bytes, int], bytes], ...] = (  # (device id, ISO time, n) -> bytes
    lambda d, t, n: b"{not json %d" % n,
    lambda d, t, n: b'{"v": 1, "device_id": "%s", "ts": "2020-13-45T99:00:00Z", "seq": %d}' % (d, n),
    lambda d, t, n: b'{"v": 1, "device_id": "%s", "ts": "%s", "seq": "seven", "n": %d}' % (d, t, n),
    lambda d, t, n: b'{"v": 1, "device_id": "%s", "ts": "%s", "seq": %d, "pm25": NaN}' % (d, t, n),
    lambda d, t, n: b"\xff\xfe\x00garbage %d" % n,
    lambda d, t, n: b"[%d]" % n,
)


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    device_id: str
    start: float
    end: float
    params: dict[str, float] = field(default_factory=dict)

    def label(self) -> dict[str, Any]:
        return {"type": "fault", **asdict(self)}


@dataclass(frozen=True, slots=True)
class Out:
    t: float
    device_id: str
    kind: DeviceKind
    topic: str
    payload: bytes
    #: "malformed" / "duplicate" for injected bad input; "offline"/"online" are connection controls
    tag: str | None = None


def plan_episodes(seed: int, start: float, end: float) -> list[Episode]:
    """About one shared pollution episode per two days, 3-12 h long, over 1-4 zones."""
    rng = random.Random(f"{seed}:episodes")
    out: list[Episode] = []
    t = start + rng.uniform(3600, 86400)
    while t < end:
        zones = tuple(sorted(rng.sample(ZONES, rng.randint(1, len(ZONES)))))
        dur = rng.uniform(3, 12) * 3600
        out.append(Episode(zones, t, min(end, t + dur), rng.uniform(3.0, 6.0)))
        t += dur + rng.uniform(86400, 3 * 86400)
    return out


def plan_faults(
    city: City,
    seed: int,
    start: float,
    end: float,
    count: int,
    kinds: tuple[str, ...] = FAULT_KINDS,
    salt: str = "",
    varied: bool = False,
) -> list[Fault]:
    """``count`` non-overlapping faults per kind on random devices (stuck/spike/drift on AQ stations).

    The plain faults are the textbook cases: a sensor frozen at its current reading, a spike of 5-10x,
    a drift upward by 3-8 µg/m³ an hour. ``varied`` makes them as varied as field sensors are: half of the
    stuck sensors read zero on every channel (a dead optical counter), spikes of 2.5-10x, and half of the
    drifts upward by 1-8 µg/m³ an hour (fouled optics), half a gain falling by 1-4 % an hour to a third at
    the lowest (a weakening fan draws less air: every reading scaled down, never to a flat zero). The same
    devices and times either way: only the fault's own parameters differ."""
    rng = random.Random(f"{seed}:faults{salt}")
    vary = random.Random(f"{seed}:varied{salt}")
    stations = [d.device_id for d in city.of_kind(DeviceKind.AIR_QUALITY)]
    others = [
        d.device_id for d in city.devices if d.kind in (DeviceKind.PARKING, DeviceKind.CCTV, DeviceKind.BUS)
    ]
    kinds_of = {d.device_id: d.kind for d in city.devices}
    zones = sorted({f"zone:{d.zone}" for d in city.devices if d.zone and d.kind is not DeviceKind.BUS})
    faults: list[Fault] = []
    span = end - start
    for kind in kinds:
        if kind == "outage":  # a zone loses power: every device in it (buses drive on)
            pool = zones
        elif kind in ("stuck", "spike", "drift"):
            pool = stations
        elif kind == "dropout":  # loss shows only on devices that report periodically
            pool = stations + [d for d in others if kinds_of[d] in (DeviceKind.PARKING, DeviceKind.BUS)]
        else:
            pool = stations + others
        for _ in range(count):
            dev = rng.choice(pool)
            t0 = start + rng.uniform(0.05, 0.8) * span
            dur = {
                "stuck": 0.1,
                "spike": 0.0,
                "drift": 0.15,
                "dropout": 0.03,
                "offline": 0.05,
                "duplicate": 0.02,
                "outage": 0.02,
            }.get(kind, 0.0) * span
            dur = max(dur, 61.0) if kind == "spike" else dur
            params = {"factor": rng.uniform(5, 10)} if kind == "spike" else {}
            if kind == "drift":
                params = {"per_hour": rng.uniform(3, 8)}
            if varied and kind == "spike":
                params = {"factor": vary.uniform(2.5, 10)}
            elif varied and kind == "drift":
                up = vary.random() < 0.5
                params = (
                    {"per_hour": vary.uniform(1, 8)} if up else {"gain_per_hour": -vary.uniform(0.01, 0.04)}
                )
            elif varied and kind == "stuck" and vary.random() < 0.5:
                params = {"at_zero": 1.0}
            faults.append(Fault(kind, dev, round(t0, 3), round(min(end, t0 + dur), 3), params))
    return faults


def plan_recurring_faults(
    city: City, seed: int, start: float, end: float, every_s: float, kinds: tuple[str, ...] = FAULT_KINDS
) -> list[Fault]:
    """One fault of each kind in every ``every_s`` of [start, end) (each lasting its kind's share of that
    block): a demonstration city where something goes wrong every little while, indefinitely."""
    if every_s <= 0:
        raise ValueError("every_s must be positive")
    out: list[Fault] = []
    k, t = 0, start
    while t < end:
        out += plan_faults(city, seed, t, min(end, t + every_s), 1, kinds, salt=f":{k}")
        k, t = k + 1, t + every_s
    return out


def expand_outages(city: City, faults: list[Fault], seed: int) -> list[Fault]:
    """Each zone outage as what its devices do: every device of the zone but buses goes offline within
    ``OUTAGE_STAGGER_S`` of its start (the broker's Last Wills) and comes back as it ends."""
    out: list[Fault] = []
    for f in faults:
        if f.kind != "outage":
            out.append(f)
            continue
        zone = f.device_id.removeprefix("zone:")
        for d in city.devices:
            if d.zone == zone and d.kind is not DeviceKind.BUS:
                rng = random.Random(f"{seed}:outage:{f.start}:{d.device_id}")
                a, b = f.start + rng.uniform(0, OUTAGE_STAGGER_S), f.end + rng.uniform(0, OUTAGE_STAGGER_S)
                out.append(Fault("offline", d.device_id, round(a, 3), round(b, 3), {"outage": 1.0}))
    return out


def _apply(f: Fault, p: m.Telemetry, t: float, state: dict[str, Any]) -> m.Telemetry:
    """Distort an air-quality reading as fault ``f`` prescribes; ``state`` is the fault's own memory."""
    if not isinstance(p, m.AirQualityReading):
        return p
    if f.kind == "stuck":
        frozen = 0.0 if f.params.get("at_zero") else None
        channels = ("pm10", "pm25", "o3", "no2", "co", "so2")
        state.setdefault("values", {k: getattr(p, k) if frozen is None else frozen for k in channels})
        return p.model_copy(update=state["values"])
    if f.kind == "spike" and not state.get("done"):
        state["done"] = True
        k = f.params["factor"]
        return p.model_copy(update={"pm25": round((p.pm25 or 0) * k, 1), "pm10": round((p.pm10 or 0) * k, 1)})
    if f.kind == "drift":
        hours = (t - f.start) / 3600
        if "gain_per_hour" in f.params:
            gain = max(1 / 3, 1 + f.params["gain_per_hour"] * hours)
            return p.model_copy(
                update={"pm25": round((p.pm25 or 0) * gain, 1), "pm10": round((p.pm10 or 0) * gain, 1)}
            )
        extra = f.params["per_hour"] * hours
        return p.model_copy(
            update={"pm25": round((p.pm25 or 0) + extra, 1), "pm10": round((p.pm10 or 0) + extra, 1)}
        )
    return p


def _active(planned: deque[tuple[int, Fault]] | None, t: float) -> list[Fault]:
    """The faults of a device in force at ``t`` (in their planned order); drops the ones over at its head."""
    if not planned:
        return []
    while planned and planned[0][1].end <= t:
        planned.popleft()
    now: list[tuple[int, Fault]] = []
    for n, f in planned:
        if f.start > t:
            break
        if t < f.end:
            now.append((n, f))
    return [f for _, f in sorted(now, key=lambda nf: nf[0])]


def simulate(
    city: City,
    start: float,
    end: float,
    seed: int = 1,
    faults: list[Fault] | None = None,
    episodes: list[Episode] | None = None,
    first_seq: int = 0,
    desk: Any = None,
) -> Iterator[Out]:
    """Every message the city publishes in [start, end), in time order; sequence numbers from ``first_seq``.
    With a ``desk`` (simulators.drivers.DriverDesk), bus drivers stop where their terminal says passengers wait."""
    faults = expand_outages(city, faults or [], seed)
    episodes = episodes if episodes is not None else plan_episodes(seed, start, end)
    bs = behaviours(city, start, seed, episodes, desk)
    heap = [(b.next_t, i) for i, b in enumerate(bs)]
    heapq.heapify(heap)
    seqs: dict[str, int] = {}
    # per device, its faults in order of start (with their planned order, in which they distort a reading);
    # ended ones are dropped as time passes, so a long plan costs no more per message than a short one
    by_dev: dict[str, deque[tuple[int, Fault]]] = {}
    for n, f in sorted(enumerate(faults), key=lambda nf: nf[1].start):
        by_dev.setdefault(f.device_id, deque()).append((n, f))
    state: dict[int, dict[str, Any]] = {}
    controls = sorted(
        [(f.start, f.device_id, "offline") for f in faults if f.kind == "offline"]
        + [(f.end, f.device_id, "online") for f in faults if f.kind == "offline"]
        + [(f.start, f.device_id, "malformed") for f in faults if f.kind == "malformed"]
    )
    kinds = {d.device_id: d.kind for d in city.devices}
    # a device has one connection: dark by two causes at once (its zone's outage and a fault of its own),
    # it leaves one Last Will when it goes and says it is back once, when the last cause ends
    dark: dict[str, int] = {}
    ci = 0
    while heap and heap[0][0] < end:
        t, i = heapq.heappop(heap)
        while ci < len(controls) and controls[ci][0] <= t:
            ct, dev, what = controls[ci]
            ci += 1
            kind = kinds[dev]
            if what == "malformed":
                n = seqs.get(dev, first_seq)
                for make in MALFORMED:
                    body = make(dev.encode(), ts(ct).isoformat().encode(), n)
                    yield Out(ct, dev, kind, topic_for(kind, dev), body, "malformed")
            else:
                before = dark.get(dev, 0)
                dark[dev] = before + (1 if what == "offline" else -1)
                if (what == "offline" and before == 0) or (what == "online" and dark[dev] == 0):
                    yield Out(ct, dev, kind, topic_for(kind, dev, Stream.STATUS), b"", what)
        b = bs[i]
        dev = b.device.device_id
        active = _active(by_dev.get(dev), t)
        payloads = b.step(t)
        heapq.heappush(heap, (b.next_t, i))
        if any(f.kind == "offline" for f in active):
            continue  # a device that is off publishes nothing and counts nothing
        for p in payloads:
            seq = seqs.get(dev, first_seq)
            seqs[dev] = seq + 1
            p = p.model_copy(update={"seq": seq})
            for f in active:
                p = _apply(f, p, t, state.setdefault(id(f), {}))
            if any(f.kind == "dropout" for f in active):
                continue  # sent by the device, lost on the way: a sequence gap
            body = m.to_json(p)
            topic = topic_for(b.device.kind, dev)
            yield Out(t, dev, b.device.kind, topic, body)
            if any(f.kind == "duplicate" for f in active):
                yield Out(t, dev, b.device.kind, topic, body, "duplicate")
