"""Which hourly values an advisory may believe (pure).

A Korean city issues 주의보/경보/중대경보 for an area, on validated data. Each station's hourly mean of a
pollutant is judged before it feeds one:

* **invalid** — the analyser reached its full scale within the hour (the instrument's ceiling, not the
  air: ``aq.saturation``), or read below its range. It feeds nothing.
* **suspect** — where the station has at least :data:`MIN_PEERS` zone peers with believable values, it
  reads far above all of them (more than ``peer_factor`` times their median and more than ``peer_margin``
  above it); where it has none, it rose faster in one hour than the air does (``max_rise_per_h``). It may
  be a real local source (a fire beside the station) or a fault: a station advisory on it is issued
  *unconfirmed*, one severity lower, until the doubt is lifted (see
  :func:`analytics.airquality.advisory.advance`).
* **valid** — otherwise.

An area's value (:func:`area`) is the median of its stations' believable values, so one station cannot
issue an area's advisory alone; the readings left out are named with their reasons.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from citywatch.contracts.instruments import SYMBOLS, UNITS, Instruments
from citywatch.i18n import Text, render

MIN_PEERS = 2
Status = Literal["valid", "suspect", "invalid"]


@dataclass(frozen=True, slots=True)
class Plausibility:
    max_rise_per_h: float  # faster than this, alone, is doubtful
    peer_margin: float  # this far above the peers' median (and peer_factor times it) is doubtful
    peer_factor: float = 3.0


PLAUSIBILITY: dict[str, Plausibility] = {
    "pm25": Plausibility(max_rise_per_h=100, peer_margin=35),
    "pm10": Plausibility(max_rise_per_h=300, peer_margin=80),
    "o3": Plausibility(max_rise_per_h=0.1, peer_margin=0.06),
    "no2": Plausibility(max_rise_per_h=0.2, peer_margin=0.06),
    "so2": Plausibility(max_rise_per_h=0.2, peer_margin=0.05),
    "co": Plausibility(max_rise_per_h=10, peer_margin=3),
}


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    why: Text | None = None  # what is wrong with the hour, readable in any language

    @property
    def reason(self) -> str:
        """:attr:`why` as recorded (English); empty for a valid hour."""
        return render(self.why) if self.why is not None else ""

    @property
    def usable(self) -> bool:
        return self.status != "invalid"


VALID = Verdict("valid")


@dataclass(frozen=True, slots=True)
class Hour:
    """One station's hour of one pollutant: its mean, its highest reading, and the previous hour's mean."""

    mean: float
    highest: float | None = None
    previous: float | None = None


def _g(v: float) -> str:
    return f"{v:.3g}"


def judge(
    pollutant: str,
    hours: Mapping[str, Hour],
    instruments: Mapping[str, Instruments],
    zone_of: Mapping[str, str],
) -> dict[str, Verdict]:
    """The verdict on every station's hour of ``pollutant`` (``hours``: station -> its hour)."""
    unit, name = UNITS[pollutant], SYMBOLS[pollutant]
    rules = PLAUSIBILITY[pollutant]
    out: dict[str, Verdict] = {}
    for sid, h in hours.items():
        rng = instruments.get(sid, Instruments()).range(pollutant)
        top = max(h.mean, h.highest if h.highest is not None else h.mean)
        if rng.saturated(top):
            out[sid] = Verdict(
                "invalid",
                Text("why.aq.full_scale", {"p": name, "full_scale": _g(rng.full_scale), "unit": unit}),
            )
        elif h.mean < rng.low:
            out[sid] = Verdict(
                "invalid", Text("why.aq.below_range", {"p": name, "value": _g(h.mean), "unit": unit})
            )
    by_zone: dict[str, list[tuple[str, float]]] = defaultdict(list)  # each zone's believable stations
    for j, p in hours.items():
        if j not in out and (z := zone_of.get(j)):
            by_zone[z].append((j, p.mean))
    invalid = set(out)
    for sid, h in hours.items():
        if sid in invalid:
            continue
        zone = zone_of.get(sid, "")
        peers = [mean for j, mean in by_zone[zone] if j != sid] if zone else []
        if len(peers) >= MIN_PEERS:
            ref = statistics.median(peers)
            if h.mean > rules.peer_factor * ref and h.mean > ref + rules.peer_margin:
                said = {"p": name, "value": _g(h.mean), "unit": unit, "peers": len(peers), "median": _g(ref)}
                out[sid] = Verdict(
                    "suspect",
                    Text("why.aq.above_peers", {**said, "times": h.mean / ref})
                    if ref > 0
                    else Text("why.aq.peers_zero", said),
                )
                continue
        elif h.previous is not None and h.mean - h.previous > rules.max_rise_per_h:
            out[sid] = Verdict(
                "suspect",
                Text("why.aq.rose_alone", {"p": name, "rise": _g(h.mean - h.previous), "unit": unit}),
            )
            continue
        out[sid] = VALID
    return out


@dataclass(frozen=True, slots=True)
class Area:
    """An area's value for an hour: the median of what its stations' believable readings say."""

    value: float | None
    stations: dict[str, float]  # the readings it is made of
    excluded: dict[str, Text]  # station -> why its reading was left out


def area(values: Mapping[str, float], verdicts: Mapping[str, Verdict], believed: Mapping[str, bool]) -> Area:
    """The median of ``values`` whose verdict is valid, or suspect yet ``believed`` (the doubt was lifted by
    its persistence); the rest excluded with their reasons."""
    used = {
        s: v
        for s, v in values.items()
        if verdicts.get(s, VALID).status == "valid"
        or (verdicts[s].status == "suspect" and believed.get(s, False))
    }
    excluded = {s: verdicts[s].why or Text("why.aq.doubtful") for s in values if s not in used}
    return Area(statistics.median(used.values()) if used else None, used, excluded)
