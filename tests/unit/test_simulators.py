"""The simulators: deterministic, plausible, and honest about their faults."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import orjson
import pytest

from citywatch.contracts.topics import DeviceKind, parse_topic
from ingest.decode import Accepted, DeviceInfo, Limits, decode
from simulators.city import Scale, build_city
from simulators.engine import FAULT_KINDS, plan_episodes, plan_faults, plan_recurring_faults, simulate
from tests.support import SHARED_DATA, needs_data

START = 1_790_000_000.0
DATA = SHARED_DATA / "uci_air_quality" / "AirQualityUCI.csv"


def test_same_seed_same_city_and_traffic() -> None:
    a = list(itertools.islice(simulate(build_city(3), START, START + 3600, seed=3), 2000))
    b = list(itertools.islice(simulate(build_city(3), START, START + 3600, seed=3), 2000))
    c = list(itertools.islice(simulate(build_city(4), START, START + 3600, seed=4), 2000))
    assert a == b
    assert a != c


def test_every_message_decodes_and_times_are_ordered() -> None:
    city = build_city(2, Scale())
    registry = {d.device_id: DeviceInfo(d.kind) for d in city.devices}
    outs = list(simulate(city, START, START + 2 * 3600, seed=2))
    assert [o.t for o in outs] == sorted(o.t for o in outs)
    now = datetime.fromtimestamp(START + 2 * 3600, UTC)
    kinds = Counter()
    for o in outs:
        d = decode(o.topic.encode(), o.payload, now, registry, Limits())
        assert isinstance(d, Accepted), (o, d)
        kinds[parse_topic(o.topic).kind] += 1
    assert set(kinds) == set(DeviceKind)
    # rates: AQ every 60 s, buses every 5 s
    assert kinds[DeviceKind.AIR_QUALITY] == pytest.approx(8 * 120, abs=16)
    assert kinds[DeviceKind.BUS] == pytest.approx(9 * 1440, rel=0.01)


def test_sequence_numbers_count_up_per_device() -> None:
    city = build_city(2)
    seqs: dict[str, list[int]] = {}
    for o in simulate(city, START, START + 3600, seed=2):
        seqs.setdefault(o.device_id, []).append(orjson.loads(o.payload)["seq"])
    assert all(s == list(range(len(s))) for s in seqs.values())


def test_faults_are_labelled_and_visible_in_the_data() -> None:
    city = build_city(5)
    end = START + 86400
    faults = plan_faults(city, 5, START, end, 1, FAULT_KINDS)
    assert Counter(f.kind for f in faults) == dict.fromkeys(FAULT_KINDS, 1)
    outs = list(simulate(city, START, end, seed=5, faults=faults))
    by = {f.kind: f for f in faults}
    stuck = by["stuck"]
    vals = [
        orjson.loads(o.payload)["pm25"]
        for o in outs
        if o.device_id == stuck.device_id and stuck.start <= o.t < stuck.end and o.tag is None
    ]
    assert len(vals) > 10 and len(set(vals)) == 1
    drop = by["dropout"]
    seqs = [orjson.loads(o.payload)["seq"] for o in outs if o.device_id == drop.device_id and o.tag is None]
    assert len(seqs) < max(seqs) + 1  # a hole in the sequence numbers
    assert sum(o.tag == "malformed" for o in outs) == 6
    assert sum(o.tag == "duplicate" for o in outs) > 0
    off = by["offline"]
    assert [o.tag for o in outs if o.device_id == off.device_id and o.tag in ("offline", "online")] == [
        "offline",
        "online",
    ]
    assert not [
        o for o in outs if o.device_id == off.device_id and off.start <= o.t < off.end and o.tag is None
    ]
    # a zone outage: every device of the zone but buses goes dark within 45 s, and comes back
    dark = by["outage"]
    zone = dark.device_id.removeprefix("zone:")
    members = {d.device_id for d in city.devices if d.zone == zone and d.kind is not DeviceKind.BUS}
    wills = {o.device_id: o.t for o in outs if o.tag == "offline" and dark.start <= o.t < dark.start + 60}
    assert len(members) >= 3 and set(wills) >= members
    assert max(wills[d] for d in members) - dark.start < 45
    back = {o.device_id for o in outs if o.tag == "online" and dark.end <= o.t < dark.end + 60}
    assert back >= members


def test_a_demonstration_city_has_a_fault_of_each_kind_in_every_block_for_as_long_as_it_runs() -> None:
    city = build_city(5)
    block = 3 * 3600.0
    end = START + 3 * block
    faults = plan_recurring_faults(city, 5, START, end, block)
    assert faults == plan_recurring_faults(city, 5, START, end, block)  # seeded
    assert Counter(f.kind for f in faults) == dict.fromkeys(FAULT_KINDS, 3)
    for k in range(3):  # one of each kind inside each block, not the same block three times over
        inside = [f for f in faults if START + k * block <= f.start and f.end <= START + (k + 1) * block]
        assert sorted(f.kind for f in inside) == sorted(FAULT_KINDS)
    assert len({(f.device_id, f.start) for f in faults if f.kind == "stuck"}) == 3
    # the last block's stuck sensor repeats itself while stuck, and only then: long plans are applied in time
    stuck = max((f for f in faults if f.kind == "stuck"), key=lambda f: f.start)
    vals = {
        o.t: orjson.loads(o.payload)["pm25"]
        for o in simulate(city, START, end, seed=5, faults=faults)
        if o.device_id == stuck.device_id and o.tag is None
    }
    during = [v for t, v in vals.items() if stuck.start <= t < stuck.end]
    before = [v for t, v in vals.items() if stuck.start - 3600 <= t < stuck.start]
    assert len(during) >= 10 and len(set(during)) == 1
    assert len(set(before)) > 10
    with pytest.raises(ValueError, match="every_s"):
        plan_recurring_faults(city, 5, START, end, 0)


def test_episodes_are_shared_by_the_stations_of_their_zones() -> None:
    city = build_city(1)
    eps = plan_episodes(1, START, START + 7 * 86400)
    assert eps
    e = eps[0]
    mid = (e.start + e.end) / 2
    outs = simulate(city, mid - 1800, mid + 1800, seed=1, episodes=eps)
    base = simulate(city, mid - 1800, mid + 1800, seed=1, episodes=[])
    zone = {d.device_id: d.zone for d in city.devices}
    with_ep = Counter()
    without = Counter()
    for o, b in zip(outs, base, strict=True):
        if o.kind is DeviceKind.AIR_QUALITY and zone[o.device_id] in e.zones:
            with_ep[o.device_id] += orjson.loads(o.payload)["pm25"]
            without[o.device_id] += orjson.loads(b.payload)["pm25"]
    assert with_ep and all(with_ep[d] > 2 * without[d] for d in with_ep)


@needs_data(DATA, "the UCI air-quality data set")
def test_uci_replay_converts_units_and_skips_outages() -> None:
    from simulators.uci import read, replay

    rows = read(DATA)
    assert len(rows) == 9357
    end = datetime(2026, 11, 1, tzinfo=UTC)
    outs = list(replay(DATA, end, days=30))
    assert 400 < len(outs) <= 30 * 24  # the series ends up to a week before `end`; outage hours are skipped
    first = orjson.loads(outs[0].payload)
    assert first["device_id"] == "aq-uci"
    assert all(o.t <= end.timestamp() for o in outs)
    registry = {"aq-uci": DeviceInfo(DeviceKind.AIR_QUALITY)}
    assert all(
        isinstance(decode(o.topic.encode(), o.payload, end, registry, Limits()), Accepted) for o in outs
    )
    co = [orjson.loads(o.payload).get("co") for o in outs]
    assert max(c for c in co if c is not None) < 15  # mg/m³ converted to ppm


def test_publisher_back_pressure_waits_for_acknowledgements() -> None:
    """Past its limit of messages in flight a sender waits until half are acknowledged; if the broker
    acknowledges nothing it says so instead of queueing forever."""
    import threading

    from simulators.publisher import _Acks

    acks = _Acks(limit=4, stall_s=5.0)
    for _ in range(4):
        acks.sent()
    blocked = threading.Thread(target=acks.sent)
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()  # the fifth waits
    acks.on_publish()
    blocked.join(0.2)
    assert blocked.is_alive()  # 3 in flight: still above half
    acks.on_publish()
    blocked.join(2.0)
    assert not blocked.is_alive() and acks.outstanding == 3
    stalled = _Acks(limit=1, stall_s=0.1)
    stalled.sent()
    with pytest.raises(ConnectionError, match="acknowledged nothing"):
        stalled.sent()


def test_varied_faults_are_the_same_faults_made_as_varied_as_field_sensors() -> None:
    city = build_city(5)
    end = START + 7 * 86400
    kinds = ("stuck", "spike", "drift")
    plain = plan_faults(city, 5, START, end, 12, kinds)
    varied = plan_faults(city, 5, START, end, 12, kinds, varied=True)
    assert [(f.kind, f.device_id, f.start, f.end) for f in plain] == [
        (f.kind, f.device_id, f.start, f.end) for f in varied
    ]  # same devices and times: only the fault's own parameters differ
    assert plain == plan_faults(city, 5, START, end, 12, kinds)  # the plain plan is as it always was
    spikes = [f.params["factor"] for f in varied if f.kind == "spike"]
    assert all(2.5 <= k <= 10 for k in spikes) and min(spikes) < 5  # smaller spikes than the plain 5-10x
    drifts = [f.params for f in varied if f.kind == "drift"]
    assert any("gain_per_hour" in p for p in drifts) and any("per_hour" in p for p in drifts)
    zero = next(f for f in varied if f.kind == "stuck" and f.params.get("at_zero"))
    gain = next(f for f in varied if f.kind == "drift" and "gain_per_hour" in f.params)
    readings: dict[str, list[tuple[float, float, float]]] = {zero.device_id: [], gain.device_id: []}
    two = replace(city, devices=[d for d in city.devices if d.device_id in readings])
    for o in simulate(
        two, min(zero.start, gain.start) - 60, max(zero.end, gain.end), seed=5, faults=[zero, gain]
    ):
        if o.device_id in readings and o.tag is None:
            d = orjson.loads(o.payload)
            readings[o.device_id].append((o.t, d["pm25"], d["pm10"]))
    during = [(a, b) for t, a, b in readings[zero.device_id] if zero.start <= t < zero.end]
    assert during and set(during) == {(0.0, 0.0)}  # a dead counter: every channel at zero
    late = [a for t, a, _ in readings[gain.device_id] if gain.end - 3600 <= t < gain.end]
    assert late and min(late) > 0  # a weak fan reads low, never a flat zero


def test_a_device_dark_for_two_reasons_leaves_one_last_will_and_comes_back_once() -> None:
    """Its zone's power cut, and a fault of its own that starts during it and ends after: one connection,
    so one Last Will when it goes dark and one 'online' when the last cause ends (not at the outage's end)."""
    city = build_city(5)
    outage = next(f for f in plan_faults(city, 5, START, START + 86400, 1, ("outage",)))
    zone = outage.device_id.removeprefix("zone:")
    dev = next(d for d in city.devices if d.zone == zone and d.kind is DeviceKind.PARKING)
    own = type(outage)("offline", dev.device_id, outage.start + 600, outage.end + 3600)
    tags = [
        (o.t, o.tag)
        for o in simulate(city, outage.start - 60, own.end + 60, seed=5, faults=[outage, own])
        if o.device_id == dev.device_id and o.tag in ("offline", "online")
    ]
    assert [t for _, t in tags] == ["offline", "online"]
    assert tags[0][0] < outage.start + 45 and tags[1][0] == own.end
