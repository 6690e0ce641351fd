"""Sensor-quality findings on simulated stations with labelled faults and shared
pollution episodes: every fault found, nothing raised on clean stations."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime

import orjson
import pytest

from analytics.airquality.quality import Finding, Reading, ZoneQuality
from citywatch.contracts.topics import DeviceKind
from simulators.city import Scale, build_city
from simulators.engine import plan_episodes, plan_faults, simulate

START = 1_790_000_000.0
END = START + 3 * 86400


@pytest.fixture(scope="module")
def scenario() -> tuple[list[Finding], list, list]:  # type: ignore[type-arg]
    city = build_city(3, Scale(stations=16))
    city = replace(city, devices=city.of_kind(DeviceKind.AIR_QUALITY))
    zone = {d.device_id: d.zone for d in city.devices}
    faults = plan_faults(city, 3, START, END, 2, ("stuck", "spike", "drift"))
    episodes = plan_episodes(3, START, END)
    minutes: dict[str, dict[int, list[Reading]]] = defaultdict(lambda: defaultdict(list))
    for o in simulate(city, START, END, seed=3, faults=faults, episodes=episodes):
        d = orjson.loads(o.payload)
        minutes[zone[o.device_id]][int(o.t // 60)].append(
            Reading(o.device_id, datetime.fromtimestamp(o.t, UTC), d.get("pm25"), d.get("pm10"), d.get("rh"))
        )
    findings: list[Finding] = []
    for by_minute in minutes.values():
        zq = ZoneQuality()
        for m in sorted(by_minute):
            findings += zq.tick(by_minute[m])
    return findings, faults, episodes


def ts(x: float) -> datetime:
    return datetime.fromtimestamp(x, UTC)


@pytest.mark.parametrize(
    ("kind", "rule", "delay_s"),
    [("stuck", "aq.stuck", 15 * 60), ("spike", "aq.spike", 120), ("drift", "aq.drift", 5 * 3600)],
)
def test_every_fault_is_found_in_time(scenario, kind: str, rule: str, delay_s: float) -> None:  # type: ignore[no-untyped-def]
    findings, faults, _ = scenario
    for f in (f for f in faults if f.kind == kind):
        hits = [
            x
            for x in findings
            if x.station == f.device_id
            and x.rule == rule
            and x.active
            and ts(f.start) <= x.time <= ts(f.start + delay_s)
        ]
        assert hits, f"{kind} on {f.device_id} at {ts(f.start)} not found"


@pytest.mark.parametrize(("kind", "rule"), [("stuck", "aq.stuck"), ("drift", "aq.drift")])
def test_findings_clear_after_the_fault(scenario, kind: str, rule: str) -> None:  # type: ignore[no-untyped-def]
    findings, faults, _ = scenario
    for f in (f for f in faults if f.kind == kind):
        cleared = [
            x
            for x in findings
            if x.station == f.device_id and x.rule == rule and not x.active and x.time >= ts(f.end)
        ]
        assert cleared and cleared[0].time <= ts(f.end + 2 * 3600), f"{rule} on {f.device_id} never cleared"


def test_no_sensor_fault_on_clean_stations_even_during_episodes(scenario) -> None:  # type: ignore[no-untyped-def]
    findings, faults, episodes = scenario
    assert episodes, "the scenario must contain a shared pollution episode"
    faulty = {f.device_id for f in faults}
    false = [x for x in findings if x.active and x.station not in faulty]
    assert false == []


def test_zone_state_survives_a_restart() -> None:
    import json

    city = build_city(4, Scale(stations=8))
    city = replace(city, devices=[d for d in city.of_kind(DeviceKind.AIR_QUALITY) if d.zone == "jangan"])
    ticks: dict[int, list[Reading]] = defaultdict(list)
    for o in simulate(city, START, START + 6 * 3600, seed=4):
        d = orjson.loads(o.payload)
        ticks[int(o.t // 60)].append(
            Reading(o.device_id, datetime.fromtimestamp(o.t, UTC), d.get("pm25"), d.get("pm10"), d.get("rh"))
        )
    order = sorted(ticks)
    a = ZoneQuality()
    for m in order[:200]:
        a.tick(ticks[m])
    b = ZoneQuality.from_state(json.loads(json.dumps(a.state())))
    for m in order[200:]:
        assert a.tick(ticks[m]) == b.tick(ticks[m])
    assert a.state() == b.state()
