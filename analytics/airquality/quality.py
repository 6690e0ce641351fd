"""Is it the air or the sensor? Sensor-quality findings for the stations of one
zone, one minute at a time (pure).

Each minute the zone's readings arrive together. For every station:

* **stuck** — PM2.5 identical for ``stuck_run`` readings spanning at least ``stuck_s`` (flatline; an
  hourly station: ten hours). An analyser at its floor in clean air (PM2.5 at most ``stuck_floor``
  while its PM10 channel still moves) is not stuck; a whole instrument frozen (a run of zeros on every
  channel: a dead counter) is;
* **spike** — a jump in the station's log-ratio to the median of its zone peers
  (robust z against the ratio's recent level, or its recent changes) that is
  also large in µg/m³: a jump that the peers share is pollution, not a sensor
  fault, and leaves the ratio alone. A spike is held until the station's next
  reading and raised then if the station came back and its peers did not follow
  (a haze front reaches one station an hour before the next: the zone's air; a
  level that stays is the drift rule's);
* **drift** — the same log-ratio wandering away from its learned level (CUSUM),
  by an effect beyond the ratio's own noise, and not at the analyser's floor (a
  reading and what its peers make of it both under its absolute error: a
  near-zero reading's ratio swings on a step of the analyser);
  when several stations of a zone drift together, only the one furthest from
  its peers is blamed. It clears as soon as the ratio has returned within its
  noise, not once the CUSUM has decayed;
* **range** — physically inconsistent values: PM2.5 above PM10 by more than the two analysers'
  combined uncertainty, for ``range_persist_s`` running (two instruments, each with its error, put
  PM2.5 slightly above PM10 in a few per cent of real hours; that is not a fault). A reading at an
  analyser's full scale is ``aq.saturation``, judged hourly with the station's instruments.

A reading of zero is the sensor's floor, where a ratio means nothing: it is
judged by the stuck rule alone (a run of zeros is a dead counter) and is no
reference for its peers. High humidity (> 75 % RH) inflates optical PM readings: it is flagged in every
finding's explanation, never raised on its own. Each finding is a condition
that becomes active and later clears; the caller turns the edges into alert
events.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from analytics.detectors import Cusum, Flatline, Spike
from citywatch.contracts.instruments import Instruments, combined_uncertainty
from citywatch.i18n import Text, at


@dataclass(frozen=True, slots=True)
class Reading:
    station: str
    time: datetime
    pm25: float | None
    pm10: float | None
    rh: float | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str  # aq.stuck | aq.spike | aq.drift | aq.range
    station: str
    active: bool  # True: the condition starts (or persists); False: it cleared
    time: datetime
    observed: float | None = None
    threshold: float | None = None
    baseline: float | None = None
    score: float | None = None
    message: str | Text = ""  # a Text to be read in any language (the clearing of a condition: English)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QualityConfig:
    stuck_run: int = 10
    stuck_s: float = 540.0  # ... spanning at least this long (ten readings a minute apart span 9 min)
    stuck_floor: float = 5.0  # µg/m³: PM2.5 at or below this, with PM10 moving, is the floor of clean air
    spike_z: float = 6.0  # robust z against the recent level or changes of the ratio to peers (Spike)
    spike_min_jump: float = 15.0  # µg/m³: a spike is also large in absolute terms, not only in ratio
    # what a rule waits for is a time, read at the station's registered interval, and at least a number of
    # readings (what statistics needs): a minute station and an hourly one wait the same time where they can
    spike_quiet_s: float = 600.0  # without a spike this long before a spike finding clears ...
    spike_quiet: int = 2  # ... and at least this many readings
    drift_on: float = 1.0  # CUSUM score
    drift_off: float = 0.3
    drift_grace_s: float = 7200.0  # the drift's level and spread learned over this long ...
    drift_grace: int = 120  # ... and at least this many readings (a CUSUM needs its spread well learned)
    drift_k: float = 1.0  # allowance, in robust standard deviations of the log-ratio
    drift_h: float = 40.0
    drift_min_scale: float = 0.08
    drift_floor: float = 5.0  # µg/m³ (the analyser's absolute error): a reading and what its peers make of
    # it both under this are at the analyser's floor, where a ratio swings on a step of the analyser
    drift_smooth: float = 0.2  # the effect is the ratio's moving average (weight of each new reading)
    range_persist_s: float = 7200.0  # PM2.5 beyond PM10 (and its uncertainty) this long running: a fault
    range_persist_n: int = 3  # ... over at least this many readings
    range_quiet_s: float = 600.0  # consistent this long before a range finding clears ...
    range_quiet: int = 2  # ... and at least this many readings
    humid_rh: float = 75.0
    pair_warmup_s: float = 3600.0  # a peer's ratio learned this long before it counts ...
    # ... and over at least this many readings: an hourly station's ratio learned over one day follows that
    # day's weather (measured on a real network: 226 drift alerts in a winter against 125 with 60)
    pair_warmup: int = 60
    pair_alpha: float = 0.001  # then the learned ratio follows slowly (~17 h at a reading a minute: a
    # sensor drifting by 1 % an hour must not be learned as the new normal; measured by bench detect)


@dataclass
class _Station:
    flat: Flatline
    spike: Spike
    drift: Cusum
    active: dict[str, bool] = field(default_factory=dict)
    since_spike: int = 0
    since_range: int = 0
    range_from: datetime | None = None  # the first reading of the current run of inconsistent ones
    range_run: int = 0
    peers: tuple[str, ...] = ()
    last_pm25: float | None = None
    pair: dict[str, float] = field(default_factory=dict)  # learned log-ratio to each peer
    pair_n: dict[str, int] = field(default_factory=dict)
    run_from: datetime | None = None  # the first reading of PM2.5's current run of identical values
    run_pm10: float | None = None  # PM10 at the run's start ...
    pm10_moved: bool = False  # ... and whether it has changed since
    # a spike waiting for the station's next reading: raised unless the peers followed it (_held_spike)
    held: dict[str, Any] | None = None
    recent: float | None = None  # the moving average of its ratio to its peers (the drift's effect) ...
    recent_pm25: float | None = None  # ... and of its PM2.5


def _smoothed(average: float | None, x: float, weight: float) -> float:
    """A moving average with ``x`` taken in at ``weight`` (the first value as it is)."""
    return x if average is None else average + weight * (x - average)


def _log_ratio(x: float, ref: float) -> float:
    return math.log((x + 1.0) / (ref + 1.0))


class ZoneQuality:
    def __init__(self, config: QualityConfig | None = None) -> None:
        self.config = config or QualityConfig()
        self.overrides: dict[str, QualityConfig] = {}  # per station, from the rules file's ``devices``
        self.instruments: dict[str, Instruments] = {}  # per station, from the registry
        self.intervals: dict[str, float] = {}  # per station, its registered reporting interval (s)
        self.stations: dict[str, _Station] = {}

    def cfg(self, sid: str) -> QualityConfig:
        """The station's own thresholds, if the rules file gives it some; else its zone's."""
        return self.overrides.get(sid, self.config)

    def readings(self, sid: str, seconds: float, at_least: int) -> int:
        """How many of the station's readings make ``seconds`` (at its registered interval; a minute when
        none is registered), and at least ``at_least``."""
        return max(at_least, math.ceil(seconds / self.intervals.get(sid, 60.0)))

    def _station(self, sid: str) -> _Station:
        if sid not in self.stations:
            c = self.cfg(sid)
            self.stations[sid] = _Station(
                Flatline(min_run=c.stuck_run),
                Spike(),
                Cusum(
                    grace_period=self.readings(sid, c.drift_grace_s, c.drift_grace),
                    k=c.drift_k,
                    h=c.drift_h,
                    min_scale=c.drift_min_scale,
                ),
            )
        return self.stations[sid]

    def state(self) -> dict[str, Any]:
        return {
            sid: {
                "flat": st.flat.state(),
                "spike": st.spike.state(),
                "drift": st.drift.state(),
                "active": st.active,
                "since_spike": st.since_spike,
                "since_range": st.since_range,
                "range_from": st.range_from.isoformat() if st.range_from else None,
                "range_run": st.range_run,
                "peers": list(st.peers),
                "pair": st.pair,
                "last_pm25": st.last_pm25,
                "pair_n": st.pair_n,
                "run_from": st.run_from.isoformat() if st.run_from else None,
                "run_pm10": st.run_pm10,
                "pm10_moved": st.pm10_moved,
                "held": st.held,
                "recent": st.recent,
                "recent_pm25": st.recent_pm25,
            }
            for sid, st in self.stations.items()
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], config: QualityConfig | None = None) -> ZoneQuality:
        zq = cls(config)
        for sid, s in state.items():
            zq.stations[sid] = _Station(
                Flatline.from_state(s["flat"]),
                Spike.from_state(s["spike"]),
                Cusum.from_state(s["drift"]),
                dict(s["active"]),
                s["since_spike"],
                s["since_range"],
                datetime.fromisoformat(s["range_from"]) if s.get("range_from") else None,
                s.get("range_run", 0),
                tuple(s.get("peers", ())),
                s.get("last_pm25"),
                dict(s.get("pair", {})),
                dict(s.get("pair_n", {})),
                datetime.fromisoformat(s["run_from"]) if s.get("run_from") else None,
                s.get("run_pm10"),
                s.get("pm10_moved", False),
                s.get("held"),
                s.get("recent"),
                s.get("recent_pm25"),
            )
        return zq

    def _learn_pairs(
        self, st: _Station, c: QualityConfig, x: float, peers: dict[str, float], warmup: int
    ) -> None:
        """Learn the station's ratio to each peer: its mean over its first ``warmup`` readings, then slowly."""
        if st.active.get("aq.drift"):
            return  # do not learn a drift as the new normal
        for j, v in peers.items():
            lr = _log_ratio(x, v)
            n = st.pair_n.get(j, 0) + 1
            st.pair_n[j] = n
            if n <= warmup:
                st.pair[j] = st.pair.get(j, 0.0) + (lr - st.pair.get(j, 0.0)) / n
            elif abs(lr - st.pair[j]) < 0.5:
                st.pair[j] += c.pair_alpha * (lr - st.pair[j])

    @staticmethod
    def _held_spike(st: _Station, x: float, ref: float) -> Finding | None:
        """The spike held since the station's previous reading, as a finding, now that the station reads
        ``x`` and its peers ``ref`` (median): a spike is a reading that stands out and comes back — the
        station fell at least half the way back, and its peers did not rise to meet it. A jump the peers
        followed was the zone's air reaching this station first (a plume, a haze front arriving); one that
        stays where it jumped is a change of level, the air's or a drift's (:class:`Cusum` judges that).
        None when nothing was held, or when it was not a spike."""
        held, st.held = st.held, None
        if held is None:
            return None
        jumped = _log_ratio(held["pm25"], held["ref"])
        followed = _log_ratio(ref, held["ref"])
        back = _log_ratio(held["pm25"], x)
        if followed * jumped > 0 and abs(followed) >= abs(jumped) / 2:
            return None
        if held["before"] is not None and back * _log_ratio(held["pm25"], held["before"]) <= 0:
            return None  # it did not come back at all
        if abs(back) < abs(jumped) / 2:
            return None
        return Finding(
            "aq.spike",
            held["station"],
            True,
            datetime.fromisoformat(held["time"]),
            held["pm25"],
            held["threshold"],
            held["ref"],
            held["z"],
            Text.from_json(held["message"]) or str(held["message"]),  # a Text, or the English of older state
            held["details"],
        )

    def _faulty(self, sid: str, rules: tuple[str, ...]) -> bool:
        st = self.stations.get(sid)
        return st is not None and any(st.active.get(r, False) for r in rules)

    @staticmethod
    def _changed(st: _Station, rule: str, active: bool) -> bool:
        """Set ``rule``'s state for the station; True when that changed it (a finding to report: most
        readings change nothing, and their findings are not made)."""
        was = st.active.get(rule, False)
        st.active[rule] = active
        return was != active

    @staticmethod
    def _drift_effect(st: _Station) -> float:
        """How far the station's recent ratio to its peers stands from its learned level."""
        level = st.drift.level or 0.0
        return (st.recent if st.recent is not None else level) - level

    def tick(self, readings: list[Reading]) -> list[Finding]:
        """Process one minute of the zone's readings; returns the findings that changed."""
        out: list[Finding] = []
        # a station already known to be faulty is no reference for its peers; nor is a reading of zero, the
        # sensor's floor (clean air, or a dead counter: the stuck rule tells which), where ratios mean nothing
        valid = {
            r.station: r.pm25
            for r in readings
            if r.pm25 is not None
            and r.pm25 > 0
            and not self._faulty(r.station, ("aq.stuck", "aq.range", "aq.drift"))
        }
        drift_scores: dict[str, float] = {}
        residuals: dict[str, float] = {}
        for r in readings:
            st = self._station(r.station)
            c = self.cfg(r.station)
            humid = r.rh is not None and r.rh > c.humid_rh
            extra = {"humidity_flag": True, "rh": r.rh} if humid else {}
            # stuck
            last_pm25, st.last_pm25 = st.last_pm25, (r.pm25 if r.pm25 is not None else st.last_pm25)
            if r.pm25 is not None:
                score = st.flat.score_one(r.pm25)
                if score * c.stuck_run <= 1 or st.run_from is None:  # a new run starts here
                    st.run_from, st.run_pm10, st.pm10_moved = r.time, r.pm10, False
                elif r.pm10 is not None and r.pm10 != st.run_pm10:
                    st.pm10_moved = True
                st.flat.learn_one(r.pm25)
                floor = r.pm25 <= c.stuck_floor and st.pm10_moved  # clean air at the analyser's floor
                spans = (r.time - st.run_from).total_seconds() >= c.stuck_s
                stuck = score >= 1.0 and spans and not floor
                if self._changed(st, "aq.stuck", stuck):
                    out.append(
                        Finding(
                            "aq.stuck",
                            r.station,
                            stuck,
                            r.time,
                            r.pm25,
                            float(c.stuck_run),
                            None,
                            score,
                            Text("why.aq.stuck", {"value": r.pm25, "n": st.flat.run}),
                            extra,
                        )
                    )
            # range
            bad: Text | None = None
            inconsistent = False
            if r.pm25 is not None and r.pm10 is not None:
                kit = self.instruments.get(r.station, Instruments())
                tolerance = combined_uncertainty(kit.range("pm25"), r.pm25, kit.range("pm10"), r.pm10)
                inconsistent = r.pm25 > r.pm10 + tolerance
                if inconsistent:
                    st.range_from = st.range_from or r.time
                    st.range_run += 1
                    if st.range_run >= c.range_persist_n and (r.time - st.range_from).total_seconds() >= (
                        c.range_persist_s
                    ):
                        bad = Text(
                            "why.aq.range",
                            {"pm25": r.pm25, "pm10": r.pm10, "tolerance": tolerance, "n": st.range_run,
                             "since": at(st.range_from)},
                        )  # fmt: skip
                else:
                    st.range_from, st.range_run = None, 0
            st.since_range = 0 if inconsistent else st.since_range + 1
            if (
                bad or st.since_range >= self.readings(r.station, c.range_quiet_s, c.range_quiet)
            ) and self._changed(st, "aq.range", bool(bad)):
                out.append(
                    Finding(
                        "aq.range",
                        r.station,
                        bool(bad),
                        r.time,
                        r.pm25,
                        message=bad or Text("clear.aq.range"),
                        details=extra,
                    )
                )
            # neighbour consistency
            peer_ids = tuple(sorted(s for s in valid if s != r.station))
            peers = [valid[s] for s in peer_ids]
            changed = peer_ids != st.peers  # a peer joined or left: the ratio moves for no physical reason
            st.peers = peer_ids
            if (
                r.pm25 is None
                or r.pm25 <= 0
                or len(peers) < 2
                or self._faulty(r.station, ("aq.stuck", "aq.range"))
            ):
                continue  # a stuck or inconsistent sensor, or one at its floor, says nothing about spikes or drift
            ref = statistics.median(peers)
            warmup = self.readings(r.station, c.pair_warmup_s, c.pair_warmup)
            # each peer's ratio corrected by its learned level, then the median: robust to a faulty peer
            # and to peers joining or leaving
            corrected = [
                _log_ratio(r.pm25, valid[j]) - st.pair[j] for j in peer_ids if st.pair_n.get(j, 0) >= warmup
            ]
            self._learn_pairs(st, c, r.pm25, {j: valid[j] for j in peer_ids}, warmup)
            if len(corrected) < 2:
                continue
            res = statistics.median(corrected)
            residuals[r.station] = res
            by_change, by_level = st.spike.scores(res)
            z = max(by_change, by_level)
            st.spike.learn_one(res)
            jump = abs(r.pm25 - last_pm25) if last_pm25 is not None else 0.0
            if st.active.get("aq.drift") or (changed and len(corrected) < 3) or jump < c.spike_min_jump:
                z = 0.0  # the jump back when a drift ends belongs to the drift
            confirmed = self._held_spike(st, r.pm25, ref)
            if confirmed is not None:
                st.since_spike = 0
                if self._changed(st, confirmed.rule, confirmed.active):
                    out.append(confirmed)
            else:
                st.since_spike += 1
            if z >= c.spike_z:
                st.held = {
                    "station": r.station,
                    "time": r.time.isoformat(),
                    "pm25": r.pm25,
                    "before": last_pm25,
                    "ref": ref,
                    "z": z,
                    "threshold": c.spike_z,
                    "message": Text(
                        "why.aq.spike",
                        {"value": r.pm25, "median": ref, "by_level": by_level, "by_change": by_change},
                    ).as_json(),
                    "details": {
                        **extra,
                        "peers": len(peers),
                        "z_by_level": by_level,
                        "z_by_change": by_change,
                    },
                }
            elif (
                confirmed is None
                and st.since_spike >= self.readings(r.station, c.spike_quiet_s, c.spike_quiet)
                and self._changed(st, "aq.spike", False)
            ):
                out.append(
                    Finding(
                        "aq.spike", r.station, False, r.time, r.pm25, c.spike_z, ref, z,
                        Text("clear.aq.spike", {"value": r.pm25, "median": ref}),
                    )
                )  # fmt: skip
            d = st.drift.score_one(res)
            st.drift.learn_one(res)
            drift_scores[r.station] = d
            st.recent = _smoothed(st.recent, res, c.drift_smooth)
            st.recent_pm25 = _smoothed(st.recent_pm25, r.pm25, c.drift_smooth)
        # drift: blame only the station furthest from its learned ratio — by its score, which stops at the
        # CUSUM's cap (several stations can be there at once), then by how far its ratio has moved; never by
        # the order its reading came in
        if drift_scores:
            effects = {sid: self._drift_effect(self.stations[sid]) for sid in drift_scores}
            worst = max(drift_scores, key=lambda s: (drift_scores[s], abs(effects[s]), s))
            for sid, d in drift_scores.items():
                st, c = self.stations[sid], self.cfg(sid)
                active = st.active.get("aq.drift", False)
                r = next(x for x in readings if x.station == sid)
                level = st.drift.level or 0.0
                effect = effects[sid]
                # the station's recent level against what its peers make of it (its ratio's learned level)
                x = st.recent_pm25 or 0.0
                expected = (x + 1.0) * math.exp(-effect) - 1.0
                beyond = abs(effect) >= st.drift.scale and max(x, expected) >= c.drift_floor
                if active:
                    now_active = d >= c.drift_off and abs(effect) >= st.drift.scale
                else:
                    now_active = d >= c.drift_on and sid == worst and beyond
                if active and not now_active:
                    st.drift.reset()  # over: the next drift builds up from nothing
                if self._changed(st, "aq.drift", now_active):
                    msg = (
                        Text(
                            "why.aq.drift",
                            {"ratio": residuals[sid], "learned": level, "recent": x, "expected": expected},
                        )
                        if now_active
                        else Text("clear.aq.drift")
                    )
                    out.append(
                        Finding("aq.drift", sid, now_active, r.time, r.pm25, c.drift_on, level, d, msg)
                    )
        return out
