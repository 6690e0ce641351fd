"""`citywatch bench detect`: detection quality, measured two ways.

1. The NAB corpus (../shared/data/NAB): the scorer is first checked against
   the published Numenta HTM result, then citywatch's general-purpose streaming
   detector (:class:`analytics.detectors.window.WindowNovelty`) is
   scored on all 58 series under the three profiles (best threshold per
   profile, as NAB does). Its warm-up is the series' probationary period, the
   one figure NAB hands every detector; it is not given NAB's whole-series
   minimum and maximum (HTM and CAD OSE were): it sees values in order only.
2. The simulator's ground truth: a week of a city with labelled faults (stuck,
   spike, drift, dropout, offline, a zone outage) and shared pollution episodes, run through
   the same pure rules the analytics service uses, for several seeds and two fault plans
   (the textbook faults, and faults as varied as field sensors'); per fault type precision,
   recall, F1 and detection delay, pooled; and any sensor-fault finding on a clean
   station during an episode.
3. The same detector as the city's ``aq.shape`` rule on hourly series
   (:mod:`tools.bench.shapes`): broken rhythms caught on synthetic
   stations, alerts per station-week on habitual hours, and on the UCI
   roadside series.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from analytics.airquality.quality import Finding, Reading, ZoneQuality
from analytics.detectors.window import WindowNovelty
from analytics.health import offline_after
from analytics.outage import Device, OutageConfig, outages
from citywatch.contracts.topics import DeviceKind
from simulators.city import Scale, build_city
from simulators.engine import Fault, expand_outages, plan_episodes, plan_faults, simulate
from tools.bench import shapes
from tools.bench.common import progress
from tools.nab import (
    PROFILES,
    counts_at,
    load_corpus,
    points,
    probation,
    published_scores,
    score_at,
    sweep,
)

NAB = Path(__file__).resolve().parents[3] / "shared" / "data" / "NAB"
SIM_SCALE = Scale(
    stations=16, lots=2, spaces_per_lot=10, cameras=8, routes=2, stops_per_route=6, buses_per_route=2
)
RULE_OF = {
    "stuck": "aq.stuck",
    "spike": "aq.spike",
    "drift": "aq.drift",
    "dropout": "device.loss",
    "offline": "device.offline",
    "outage": "zone.outage",
}
GRACE_S = {"stuck": 900, "spike": 300, "drift": 3 * 3600, "dropout": 900, "offline": 1800, "outage": 600}


def _describe(d: WindowNovelty) -> str:
    scales = ", ".join("/".join(map(str, s)) for s in d.scales)
    return (
        f"WindowNovelty(scales={scales}, vigilance={d.vigilance}, widen={d.widen}, "
        f"margin={d.margin}, rest=warm-up/10, recall=20 warm-ups)"
    )


def nab(root: Path) -> dict[str, Any]:
    corpus = load_corpus(root)
    thresholds = json.loads((root / "config" / "thresholds.json").read_text())["numenta"]
    pts, n = points(corpus, published_scores(root, "numenta", corpus))
    check = score_at(pts, n, thresholds["standard"]["threshold"], "standard")
    progress(f"NAB scorer check: Numenta HTM standard = {check:.3f} (published 70.101)")
    rows = sum(len(s.values) for s in corpus)
    scores = []
    t0 = time.perf_counter()
    for i, s in enumerate(corpus):
        d = WindowNovelty(grace_period=probation(len(s.values)))
        out = []
        for x in s.values:
            out.append(d.score_one(x))
            d.learn_one(x)
        scores.append(out)
        if i % 10 == 9:
            progress(f"NAB: {i + 1}/{len(corpus)} series scored")
    cost = (time.perf_counter() - t0) / rows * 1e6
    pts, n = points(corpus, scores)
    res = {p: sweep(pts, n, p) for p in PROFILES}
    progress("NAB citywatch: " + ", ".join(f"{p} {v[0]:.1f} (threshold {v[1]:.4f})" for p, v in res.items()))
    hit, false_alarms = counts_at(pts, res["standard"][1])
    progress(
        f"NAB citywatch at the standard threshold: {hit} of {n} windows found, {false_alarms} false alarms"
    )
    return {
        "nab_scorer_check_standard": round(check, 3),
        "nab_standard": round(res["standard"][0], 2),
        "nab_low_fp": round(res["reward_low_FP_rate"][0], 2),
        "nab_low_fn": round(res["reward_low_FN_rate"][0], 2),
        "cost_us_per_point": round(cost, 1),
        "nab_rows": rows,
        "nab_windows_found": hit,
        "nab_windows": n,
        "nab_false_alarms": false_alarms,
        "nab_detector": _describe(WindowNovelty()),
    }


def _score(kind: str, faults: list[Fault], found: list[tuple[str, datetime]]) -> dict[str, Any]:
    """Event-level matching of one fault type: faults, findings, faults detected, findings that match a
    fault, and each detected fault's delay; :func:`_rates` turns them (or several runs' sums) into figures."""
    fs = [f for f in faults if f.kind == kind]
    detected, delays = 0, []
    matched: set[int] = set()
    for f in fs:
        hits = [
            (i, t)
            for i, (dev, t) in enumerate(found)
            if dev == f.device_id and f.start <= t.timestamp() <= max(f.end, f.start) + GRACE_S[kind]
        ]
        if hits:
            detected += 1
            delays.append(min(t.timestamp() for _, t in hits) - f.start)
            matched.update(i for i, _ in hits)
    return {
        "faults": len(fs),
        "findings": len(found),
        "detected": detected,
        "matched": len(matched),
        "delays": delays,
    }


def _rates(c: dict[str, Any]) -> dict[str, Any]:
    """Precision / recall / F1 and median delay from :func:`_score`'s counts."""
    precision = c["matched"] / c["findings"] if c["findings"] else 1.0
    recall = c["detected"] / c["faults"] if c["faults"] else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "faults": c["faults"],
        "findings": c["findings"],
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(f1, 3),
        "delay_median_s": round(statistics.median(c["delays"]), 1) if c["delays"] else None,
    }


class Health:
    """Device health by Last Will as the analytics service judges it (:mod:`analytics.outage`): a zone
    whose devices go dark together is one outage; a device's own Last Will waits ``hold_s`` and raises an
    offline alert only if no outage explains it by then; a device still dark ``hold_s`` after its zone's
    outage cleared raises its own then (the service judges every device at each health step)."""

    def __init__(self, city: Any, config: OutageConfig | None = None) -> None:
        self.config = config or OutageConfig()
        self.devices = {d.device_id: d for d in city.devices}
        self.down: dict[str, float] = {}  # device -> since
        self.held: list[tuple[float, str, float]] = []  # (due, device, since)
        self.live: dict[str, tuple[float, tuple[str, ...]]] = {}  # outage subject -> (since, devices)
        self.past: list[tuple[str, float, float, tuple[str, ...]]] = []  # ended outages

    def _zone(self, zone: str, t: float) -> list[tuple[str, float]]:
        members = [d for d in self.devices.values() if d.zone == zone]
        found = outages(
            [
                Device(
                    d.device_id,
                    d.kind.value,
                    zone,
                    True,
                    datetime.fromtimestamp(self.down[d.device_id], UTC) if d.device_id in self.down else None,
                )
                for d in members
            ],
            set(self.live),
            self.config,
        )
        subject, raised = f"zone:{zone}", []
        if subject in found and subject not in self.live:
            raised.append((subject, t))
        if subject in found:  # every device it explained, while it lasted
            since, devs = self.live.get(subject, (t, ()))
            self.live[subject] = (since, tuple(sorted({*devs, *found[subject].devices})))
        elif subject in self.live:
            since, devs = self.live.pop(subject)
            self.past.append((subject, since, t, devs))
            # power is back: a device still dark gets hold_s to boot, then its own offline alert
            self.held += [
                (t + self.config.hold_s, dev, self.down[dev])
                for dev in devs
                if dev in self.down and not self._held(dev)
            ]
        return raised

    def _held(self, dev: str) -> bool:
        return any(d == dev for _due, d, _since in self.held)

    def status(self, dev: str, t: float, offline: bool) -> list[tuple[str, float]]:
        """A Last Will (or the device back); returns the outages raised by it."""
        if offline:
            self.down[dev] = t
            self.held.append((t + self.config.hold_s, dev, t))
        else:
            self.down.pop(dev, None)
        zone = self.devices[dev].zone
        return self._zone(zone, t) if zone else []

    def explained(self, dev: str, t: float) -> bool:
        """An outage covered ``dev`` at ``t``."""
        if any(dev in devs and since <= t for since, devs in self.live.values()):
            return True
        return any(dev in devs and a <= t <= b for _s, a, b, devs in self.past)

    def due(self, now: float) -> list[tuple[str, float]]:
        """The held Last Wills whose minute is up, still offline and not explained: offline alerts then."""
        out, keep = [], []
        for due, dev, since in self.held:
            if due > now:
                keep.append((due, dev, since))
            elif self.down.get(dev) == since and not self.explained(dev, due):
                out.append((dev, due))
        self.held = keep
        return out


def simulation(
    days: float = 7.0, seed: int = 21, faults_per_kind: int = 4, varied: bool = False
) -> dict[str, Any]:
    city = build_city(seed, SIM_SCALE)
    city = replace(city, devices=[d for d in city.devices if not d.meta.get("gateway")])
    start = 1_790_000_000.0
    end = start + days * 86400
    kinds = ("stuck", "spike", "drift", "dropout", "offline", "outage")
    faults = plan_faults(city, seed, start, end, faults_per_kind, kinds, varied=varied)
    health = Health(city)
    dropouts = defaultdict(list)
    for f in faults:
        if f.kind == "dropout":
            dropouts[f.device_id].append((f.start, f.end))
    episodes = plan_episodes(seed, start, end)
    zone = {d.device_id: d.zone for d in city.devices}
    interval = {d.device_id: d.expected_interval_s for d in city.devices}
    minutes: dict[str, dict[int, list[Reading]]] = defaultdict(lambda: defaultdict(list))
    last_seen: dict[str, float] = {}
    last_seq: dict[str, int] = {}
    found: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    n = 0
    progress(
        f"simulating {days:g} days of {len(city.devices)} devices with {len(faults)} labelled faults and "
        f"{len(episodes)} shared pollution episodes"
    )
    # a sensor fault shows only in readings that were sent: one whose every reading was lost (the station
    # offline, its zone dark, its messages dropped) is unobservable, and is not held against the rules
    sensor_faults: dict[str, list[Fault]] = defaultdict(list)
    for f in faults:
        if f.kind in ("stuck", "spike", "drift"):
            sensor_faults[f.device_id].append(f)
    observed: set[int] = set()
    for o in simulate(city, start, end, seed=seed, faults=faults, episodes=episodes):
        n += 1
        dev = o.device_id
        if o.tag is None:
            observed.update(id(f) for f in sensor_faults.get(dev, ()) if f.start <= o.t <= f.end)
        for dev_held, at in health.due(o.t):  # Last Wills held a minute, not explained by an outage since
            found["offline"].append((dev_held, datetime.fromtimestamp(at, UTC)))
        if o.tag in ("offline", "online"):  # the broker publishes the device's Last Will (or its return)
            for subject, at in health.status(dev, o.t, o.tag == "offline"):
                found["outage"].append((subject, datetime.fromtimestamp(at, UTC)))
            if o.tag == "online" and dev in last_seen:
                last_seen[dev] = o.t  # back: alive from now, though its data may lag
            continue
        if o.tag in ("malformed", "duplicate"):
            continue
        d = orjson.loads(o.payload)
        # device health, as the service sees it: silence beyond the device's limit, gaps in its sequence
        limit = offline_after(interval[dev])
        if limit is not None and dev in last_seen and o.t - last_seen[dev] > limit:
            at = last_seen[dev] + limit
            # silence while messages are being lost on the way is the data loss showing, not a second fault
            lost = any(a <= at <= b for a, b in dropouts.get(dev, ()))
            if not health.explained(dev, at):  # a zone outage explains it: no alert of its own
                found["dropout" if lost else "offline"].append((dev, datetime.fromtimestamp(at, UTC)))
        if dev in last_seq and d["seq"] > last_seq[dev] + 1:
            found["dropout"].append((dev, datetime.fromtimestamp(o.t, UTC)))
        last_seen[dev], last_seq[dev] = o.t, d["seq"]
        if o.kind is DeviceKind.AIR_QUALITY:
            minutes[zone[dev]][int(o.t // 60)].append(
                Reading(dev, datetime.fromtimestamp(o.t, UTC), d.get("pm25"), d.get("pm10"), d.get("rh"))
            )
    findings: list[Finding] = []
    for by_minute in minutes.values():
        zq = ZoneQuality()
        for m in sorted(by_minute):
            findings += zq.tick(by_minute[m])
    for dev_held, at in health.due(end + 3600):
        found["offline"].append((dev_held, datetime.fromtimestamp(at, UTC)))
    for kind in ("stuck", "spike", "drift"):
        found[kind] = [(f.station, f.time) for f in findings if f.active and f.rule == RULE_OF[kind]]
    unobservable = [f for fs in sensor_faults.values() for f in fs if id(f) not in observed]
    unseen = {id(f) for f in unobservable}
    counts = {k: _score(k, [f for f in faults if id(f) not in unseen], found[k]) for k in kinds}
    scored = {k: _rates(c) for k, c in counts.items()}
    # the pages a zone outage would have cost without grouping, and those it still cost
    in_outage = [f for f in expand_outages(city, faults, seed) if f.params.get("outage")]
    paged = [
        (dev, t)
        for dev, t in found["offline"]
        if any(
            f.device_id == dev and f.start <= t.timestamp() <= f.end + GRACE_S["offline"] for f in in_outage
        )
    ]
    faulty = {f.device_id for f in faults}
    on_episodes = [
        f
        for f in findings
        if f.active
        and f.station not in faulty
        and any(e.start <= f.time.timestamp() <= e.end and zone[f.station] in e.zones for e in episodes)
    ]
    if unobservable:
        progress(
            f"sim: {len(unobservable)} sensor faults never showed (no reading sent while they lasted), not scored: "
            + ", ".join(f"{f.kind} on {f.device_id}" for f in unobservable)
        )
    progress(
        f"sim outages: {scored['outage']['faults']} zones went dark ({len(in_outage)} devices): "
        f"{scored['outage']['findings']} outage alerts, {len(paged)} device offline pages"
    )
    for k, v in scored.items():
        progress(
            f"sim {k}: precision {v['precision']}, recall {v['recall']}, F1 {v['f1']}, "
            f"median delay {v['delay_median_s']} s"
        )
    return {
        "sim_f1": {k: v["f1"] for k, v in scored.items()},
        "sim_f1_min": min(v["f1"] for v in scored.values()),
        "sim_f1_min_stuck_spike_offline": min(scored[k]["f1"] for k in ("stuck", "spike", "offline")),
        "sim_false_fault_on_episodes": len(on_episodes),
        "sim_unobservable_faults": len(unobservable),
        "sim_outage_devices": len(in_outage),
        "sim_offline_pages_in_outages": len(paged),
        "sim_detail": scored,
        "sim_counts": counts,
        "sim_messages": n,
        "sim_days": days,
        "sim_episodes": len(episodes),
    }


PLANS = {"plain": False, "varied": True}


def simulations(days: float = 7.0, seeds: tuple[int, ...] = (21, 22, 23)) -> dict[str, Any]:
    """:func:`simulation` for every seed with both fault plans (plain: the textbook faults; varied: as
    varied as field sensors, see :func:`simulators.engine.plan_faults`), the counts pooled: per fault
    type over all runs, and per plan."""
    runs: list[dict[str, Any]] = []
    for seed in seeds:
        for plan, varied in PLANS.items():
            progress(f"simulated city, seed {seed}, {plan} faults")
            runs.append({"seed": seed, "plan": plan, **simulation(days, seed=seed, varied=varied)})

    def pooled(rs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for r in rs:
            for k, c in r["sim_counts"].items():
                p = out.setdefault(k, {"faults": 0, "findings": 0, "detected": 0, "matched": 0, "delays": []})
                for field in ("faults", "findings", "detected", "matched", "delays"):
                    p[field] += c[field]
        return {k: _rates(c) for k, c in out.items()}

    detail = pooled(runs)
    by_plan = {plan: pooled([r for r in runs if r["plan"] == plan]) for plan in PLANS}
    for plan, scored in by_plan.items():
        progress(
            f"{plan} faults, {len(seeds)} seeds pooled: "
            + ", ".join(f"{k} F1 {v['f1']}" for k, v in scored.items())
        )

    def total(key: str) -> int:
        return sum(int(r[key]) for r in runs)

    return {
        "sim_f1": {k: v["f1"] for k, v in detail.items()},
        "sim_f1_min": min(v["f1"] for v in detail.values()),
        "sim_f1_min_stuck_spike_offline": min(detail[k]["f1"] for k in ("stuck", "spike", "offline")),
        "sim_f1_by_plan": {plan: {k: v["f1"] for k, v in scored.items()} for plan, scored in by_plan.items()},
        "sim_false_fault_on_episodes": total("sim_false_fault_on_episodes"),
        "sim_unobservable_faults": total("sim_unobservable_faults"),
        "sim_outage_devices": total("sim_outage_devices"),
        "sim_offline_pages_in_outages": total("sim_offline_pages_in_outages"),
        "sim_detail": detail,
        "sim_runs": [{"seed": r["seed"], "plan": r["plan"], "f1": r["sim_f1"]} for r in runs],
        "sim_messages": total("sim_messages"),
        "sim_days": days,
        "sim_seeds": list(seeds),
        "sim_episodes": total("sim_episodes"),
    }


def run(days: float = 7.0, seeds: int = 3) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if NAB.exists():
        out.update(nab(NAB))
    else:
        progress(f"NAB data not found at {NAB}: skipping the NAB part")
    out.update(simulations(days, tuple(range(21, 21 + seeds))))
    out.update(shapes.run())
    return out
