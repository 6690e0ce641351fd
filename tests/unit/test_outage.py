"""Zone outages (pure): devices of a zone silent together are one outage, not a fault of each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.model import Severity
from analytics.outage import Device, OutageConfig, covered, outages

T0 = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
CFG = OutageConfig()


def zone(n: int, down: dict[int, float], name: str = "jangan", kind: str = "aq") -> list[Device]:
    """``n`` devices of a zone; ``down``: device number -> seconds after T0 it went offline."""
    return [
        Device(f"{name}-{i}", kind, name, True, T0 + timedelta(seconds=down[i]) if i in down else None)
        for i in range(n)
    ]


CASES = [
    # (what, devices, live outage subjects, expected outage subjects and sizes)
    ("5 of 8 at once", zone(8, {i: 5 * i for i in range(5)}), set(), {"zone:jangan": 5}),
    ("all of a zone", zone(4, {i: 0 for i in range(4)}), set(), {"zone:jangan": 4}),
    ("2 of 3: too few", zone(3, {0: 0, 1: 0}), set(), {}),
    ("3 of 10: too small a share", zone(10, {0: 0, 1: 0, 2: 0}), set(), {}),
    ("4 of 6 over a day: not together", zone(6, {0: 0, 1: 7200, 2: 20000, 3: 80000}), set(), {}),
    ("4 of 6, two groups of 2", zone(6, {0: 0, 1: 60, 2: 5000, 3: 5060}), set(), {}),
    ("5 of 8 within 15 min", zone(8, {0: 0, 1: 200, 2: 400, 3: 700, 4: 899}), set(), {"zone:jangan": 5}),
    ("3 of 10 stays, once live", zone(10, {0: 0, 1: 0, 2: 0}), {"zone:jangan"}, {"zone:jangan": 3}),
    ("2 left of a live one: clears", zone(10, {0: 0, 1: 0}), {"zone:jangan"}, {}),
    ("no zone", zone(4, {i: 0 for i in range(4)}, name=""), set(), {}),
    ("buses move", zone(4, {i: 0 for i in range(4)}, kind="bus"), set(), {}),
    (
        "two zones, one down",
        zone(4, {i: 0 for i in range(4)}) + zone(4, {0: 0}, name="paldal"),
        set(),
        {"zone:jangan": 4},
    ),
]


@pytest.mark.parametrize(("devices", "live", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_outages(devices: list[Device], live: set[str], expected: dict[str, int]) -> None:
    found = outages(devices, live, CFG)
    assert {s: len(o.devices) for s, o in found.items()} == expected
    assert covered(found) == {d: s for s, o in found.items() for d in o.devices}


def test_never_heard_devices_do_not_count() -> None:
    # three of eight are offline; the five never heard from (just installed) do not dilute the zone
    devices = zone(3, {0: 0, 1: 0, 2: 0}) + [
        Device(f"new-{i}", "aq", "jangan", False, None) for i in range(5)
    ]
    assert {s: o.watched for s, o in outages(devices, set(), CFG).items()} == {"zone:jangan": 3}


def test_the_largest_group_is_the_outage() -> None:
    # one device died in the morning; four went together in the afternoon
    devices = zone(6, {0: -20000, 1: 0, 2: 30, 3: 60, 4: 90})
    (o,) = outages(devices, set(), CFG).values()
    assert o.devices == ("jangan-1", "jangan-2", "jangan-3", "jangan-4")
    assert (o.first, o.last) == (T0, T0 + timedelta(seconds=90))
    assert "jangan-0" not in covered({"zone:jangan": o})  # its own fault: its own alert


def test_the_alert_explains_itself() -> None:
    devices = zone(5, {0: 0, 1: 10, 2: 20}) + zone(3, {0: 30}, name="jangan", kind="parking")
    (o,) = outages(devices, set(), CFG).values()
    ev = o.event(Severity.CRITICAL)
    assert (ev.rule, ev.subject, ev.kind, ev.severity) == (
        "zone.outage",
        "zone:jangan",
        "platform",
        Severity.CRITICAL,
    )
    assert ev.title == "Zone outage: 4 of 8 devices offline in jangan"
    x = ev.explanation
    assert (x.observed, x.baseline, x.score) == (4.0, 8.0, 0.5)
    assert (x.window_start, x.window_end) == (T0, T0 + timedelta(seconds=30))
    assert x.details["kinds"] == {"aq": 3, "parking": 1} and len(x.details["devices"]) == 4
    assert "power or network outage" in x.message and "at once" in x.message


def test_turned_off_it_finds_nothing() -> None:
    assert outages(zone(4, {i: 0 for i in range(4)}), set(), OutageConfig(enabled=False)) == {}
