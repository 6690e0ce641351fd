from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.model import Clear, Raise, Severity
from analytics.cctv import DEFAULT_EVENTS, CctvConfig, CctvEvent, CctvRules, EventRule, severity
from citywatch.i18n import render
from tests.support import NOON_KST, ev

MIDNIGHT_KST = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)


SEVERITY = [
    ("fire-day", ev(NOON_KST, "fire"), Severity.CRITICAL),
    ("smoke-night", ev(MIDNIGHT_KST, "smoke"), Severity.CRITICAL),
    ("child-day", ev(NOON_KST, "child_zone_entry"), Severity.WARNING),
    ("child-night", ev(MIDNIGHT_KST, "child_zone_entry"), Severity.CRITICAL),
    ("intrusion-night", ev(MIDNIGHT_KST, "intrusion"), Severity.CRITICAL),
    ("fall-unsure", ev(NOON_KST, "fall", conf=0.7), Severity.WARNING),
    ("fall-sure", ev(NOON_KST, "fall", conf=0.85), Severity.CRITICAL),
    ("crowd-small", ev(NOON_KST, "crowd", count=20), Severity.INFO),
    ("crowd-big", ev(NOON_KST, "crowd", count=80), Severity.WARNING),
    ("loitering-school", ev(NOON_KST, "loitering", area="school"), Severity.WARNING),
    ("parking", ev(NOON_KST, "illegal_parking"), Severity.INFO),
    ("low-confidence", ev(NOON_KST, "fire", conf=0.3), None),
]


@pytest.mark.parametrize(("event", "expected"), [c[1:] for c in SEVERITY], ids=[c[0] for c in SEVERITY])
def test_severity(event: CctvEvent, expected: Severity | None) -> None:
    assert severity(event, CctvConfig()) == expected


def test_burst_is_one_key_and_clears_when_quiet() -> None:
    r = CctvRules(CctvConfig(quiet_s=600))
    keys = set()
    for i in range(12):
        for key, e, _t in r.on_event(ev(NOON_KST + timedelta(seconds=5 * i), "fight")):
            assert isinstance(e, Raise)
            keys.add(key)
    assert keys == {"cctv.fight:cam-1"}
    assert r.tick(NOON_KST + timedelta(seconds=300)) == []
    cleared = r.tick(NOON_KST + timedelta(seconds=55 + 600))
    assert [(k, type(e)) for k, e, _ in cleared] == [("cctv.fight:cam-1", Clear)]


def _episodes(
    r: CctvRules, minutes: list[int], etype: str = "crowd", end_min: int | None = None
) -> list[tuple[int, str]]:
    """One event at each minute (each after the quiet period: a new episode), the rules ticking every
    minute; (minute, "raise" or "clear") of what they said."""
    out: list[tuple[int, str]] = []
    for m in range(0, (end_min or max(minutes) + 120) + 1):
        events = r.tick(NOON_KST + timedelta(minutes=m))
        if m in minutes:
            events += r.on_event(ev(NOON_KST + timedelta(minutes=m), etype))
        out += [(m, "raise" if isinstance(e, Raise) else "clear") for _k, e, _t in events]
    return out


def test_an_event_that_keeps_coming_back_is_one_alert_that_stays_open() -> None:
    """A crowd every 30 minutes: the first two episodes each open and clear (10 min quiet); from the
    third (3 within 2 h) it is recurring, and its alert stays open until an hour without it."""
    r = CctvRules(CctvConfig(quiet_s=600, recurring_n=3, recurring_window_s=7200, recurring_quiet_s=3600))
    said = _episodes(r, [0, 30, 60, 90, 120, 150])
    assert said == [
        (0, "raise"), (10, "clear"),
        (30, "raise"), (40, "clear"),
        (60, "raise"), (90, "raise"), (120, "raise"), (150, "raise"),  # one alert: its count grows
        (210, "clear"),  # an hour after the last
    ]  # fmt: skip
    r2 = CctvRules(CctvConfig(quiet_s=600, recurring_n=0))  # off: every episode announces itself
    assert [m for m, what in _episodes(r2, [0, 30, 60, 90, 120, 150]) if what == "raise"] == [
        0,
        30,
        60,
        90,
        120,
        150,
    ]
    assert len([w for _m, w in _episodes(r2, [0, 30, 60, 90, 120, 150], end_min=300) if w == "clear"]) == 6


def test_a_recurring_alert_says_so_and_episodes_far_apart_are_not_recurring() -> None:
    r = CctvRules(CctvConfig())
    for m in (0, 30):
        r.on_event(ev(NOON_KST + timedelta(minutes=m), "crowd"))
        r.tick(NOON_KST + timedelta(minutes=m + 15))
    (_k, third, _t), *_ = r.on_event(ev(NOON_KST + timedelta(minutes=60), "crowd"))
    assert isinstance(third, Raise) and third.explanation.details["recurring"] == 3
    assert (
        "recurring: 3 times in 2 h; the alert stays open until 60 min without it" in third.explanation.message
    )
    far = CctvRules(CctvConfig())  # three episodes, but 3 h apart: each is its own
    assert [w for _m, w in _episodes(far, [0, 180, 360])].count("raise") == 3
    assert [w for _m, w in _episodes(far, [0, 180, 360])].count("clear") == 3


def test_same_type_from_two_cameras_of_a_zone_is_an_incident() -> None:
    r = CctvRules()
    r.on_event(ev(NOON_KST, "fight", cam="cam-1"))
    out = r.on_event(ev(NOON_KST + timedelta(seconds=60), "fight", cam="cam-2"))
    incident = [e for k, e, _ in out if k == "cctv.incident.fight:zone:z1"]
    assert incident and isinstance(incident[0], Raise) and incident[0].severity is Severity.CRITICAL
    # another zone, or too late, is not the same incident
    r2 = CctvRules()
    r2.on_event(ev(NOON_KST, "fight", cam="cam-1"))
    assert not [
        k
        for k, _, _ in r2.on_event(ev(NOON_KST + timedelta(seconds=30), "fight", cam="cam-9", zone="z2"))
        if k.startswith("cctv.incident")
    ]
    assert not [
        k
        for k, _, _ in r2.on_event(ev(NOON_KST + timedelta(seconds=900), "fight", cam="cam-2"))
        if k.startswith("cctv.incident")
    ]


def _raised(out: list[tuple[str, object, datetime]]) -> dict[str, Raise]:
    return {k: e for k, e, _ in out if isinstance(e, Raise)}


def test_an_incident_groups_the_zones_events_of_its_type_while_it_lasts() -> None:
    r = CctvRules()  # incidents: 2 cameras within 5 min; quiet 10 min
    first = _raised(r.on_event(ev(NOON_KST, "fight", cam="cam-1")))
    assert set(first) == {"cctv.fight:cam-1"}  # one camera: its own alert
    formed = _raised(r.on_event(ev(NOON_KST + timedelta(seconds=60), "fight", cam="cam-2")))
    assert set(formed) == {"cctv.incident.fight:zone:z1"}  # the second camera: told once, as the scene
    inc = formed["cctv.incident.fight:zone:z1"]
    assert inc.explanation.details["cameras"] == ["cam-1", "cam-2"]
    assert inc.explanation.details["first_camera"] == "cam-1"
    assert inc.explanation.window_start == NOON_KST
    # a third camera, outside the 5-minute window but while the incident lasts, joins it
    later = _raised(r.on_event(ev(NOON_KST + timedelta(seconds=400), "fight", cam="cam-3")))
    assert set(later) == {"cctv.incident.fight:zone:z1"}
    assert later["cctv.incident.fight:zone:z1"].explanation.details["cameras"] == ["cam-1", "cam-2", "cam-3"]
    assert later["cctv.incident.fight:zone:z1"].explanation.details["events"] == 3
    # the alert open before the incident formed goes on counting its camera's events, and keeps the
    # incident alive
    again = _raised(r.on_event(ev(NOON_KST + timedelta(seconds=700), "fight", cam="cam-1")))
    assert set(again) == {"cctv.fight:cam-1", "cctv.incident.fight:zone:z1"}
    # another type, or another zone, is not grouped
    other = _raised(r.on_event(ev(NOON_KST + timedelta(seconds=710), "fire", cam="cam-2")))
    assert set(other) == {"cctv.fire:cam-2"}
    elsewhere = _raised(r.on_event(ev(NOON_KST + timedelta(seconds=720), "fight", cam="cam-9", zone="z2")))
    assert set(elsewhere) == {"cctv.fight:cam-9"}
    # quiet for 10 min: camera alert and incident clear; then a camera alerts on its own again
    cleared = {k for k, e, _ in r.tick(NOON_KST + timedelta(seconds=700 + 601)) if isinstance(e, Clear)}
    assert {"cctv.fight:cam-1", "cctv.incident.fight:zone:z1"} <= cleared
    fresh = _raised(r.on_event(ev(NOON_KST + timedelta(seconds=1400), "fight", cam="cam-3")))
    assert set(fresh) == {"cctv.fight:cam-3"}


def test_smoke_and_fire_are_one_scene() -> None:
    """The packaged table makes smoke ``same_as`` fire: a camera that sees smoke, then flames, is one fire
    alert (one call to 119, fire's runbook and escalation); two cameras, one seeing smoke and one fire, are
    one fire incident."""
    r = CctvRules()
    smoke = _raised(r.on_event(ev(NOON_KST, "smoke", cam="cam-1", conf=0.7)))
    assert set(smoke) == {"cctv.fire:cam-1"}
    assert smoke["cctv.fire:cam-1"].title == "Fire at cam-1" and smoke["cctv.fire:cam-1"].rule == "cctv.fire"
    why = smoke["cctv.fire:cam-1"].explanation
    assert why.details["event_type"] == "smoke" and "smoke with confidence 0.70" in why.message
    assert "(one scene with fire)" in why.message
    flames = _raised(r.on_event(ev(NOON_KST + timedelta(seconds=40), "fire", cam="cam-1")))
    assert set(flames) == {"cctv.fire:cam-1"}  # the same alert, counting
    scene = _raised(r.on_event(ev(NOON_KST + timedelta(seconds=60), "smoke", cam="cam-2")))
    assert set(scene) == {"cctv.incident.fire:zone:z1"}
    # a table without it: smoke is its own alert again
    own = CctvRules(CctvConfig(events={**DEFAULT_EVENTS, "smoke": EventRule("critical")}))
    assert set(_raised(own.on_event(ev(NOON_KST, "smoke", cam="cam-1")))) == {"cctv.smoke:cam-1"}


@pytest.mark.parametrize(
    ("kind", "at", "count", "expected"),
    [
        ("crowd", NOON_KST, 20, Severity.WARNING),  # info events: the incident is a warning
        ("loitering", NOON_KST, None, Severity.WARNING),
        ("wrong_way", NOON_KST, None, Severity.CRITICAL),  # warnings: critical
        ("fire", NOON_KST, None, Severity.CRITICAL),  # critical stays critical
    ],
)
def test_an_incident_is_one_step_more_severe_than_its_worst_event(
    kind: str, at: datetime, count: int | None, expected: Severity
) -> None:
    r = CctvRules()
    r.on_event(ev(at, kind, cam="cam-1", count=count))
    out = _raised(r.on_event(ev(at + timedelta(seconds=30), kind, cam="cam-2", count=count)))
    assert out[f"cctv.incident.{kind}:zone:z1"].severity is expected


def test_a_more_severe_event_raises_the_incidents_severity() -> None:
    r = CctvRules()
    r.on_event(ev(NOON_KST, "crowd", cam="cam-1", count=20))
    out = _raised(r.on_event(ev(NOON_KST + timedelta(seconds=30), "crowd", cam="cam-2", count=20)))
    assert out["cctv.incident.crowd:zone:z1"].severity is Severity.WARNING
    out = _raised(r.on_event(ev(NOON_KST + timedelta(seconds=60), "crowd", cam="cam-3", count=90)))
    assert out["cctv.incident.crowd:zone:z1"].severity is Severity.CRITICAL
    assert out["cctv.incident.crowd:zone:z1"].explanation.details["worst_event_severity"] == "warning"


def test_flood_of_low_confidence_events_is_a_noisy_camera() -> None:
    r = CctvRules(CctvConfig(noisy_per_h=30))
    keys = []
    for i in range(40):
        keys += [
            k
            for k, e, _ in r.on_event(ev(NOON_KST + timedelta(seconds=30 * i), "loitering", conf=0.52))
            if isinstance(e, Raise)
        ]
    assert keys.count("cctv.noisy:cam-1") == 1
    # once it is noisy, its doubtful events are its fault's symptoms: they raise nothing more ...
    assert keys[keys.index("cctv.noisy:cam-1") + 1 :] == []
    # ... but what it sees with confidence still counts
    t = NOON_KST + timedelta(seconds=30 * 40)
    sure = [k for k, e, _ in r.on_event(ev(t, "fire", conf=0.9)) if isinstance(e, Raise)]
    assert sure == ["cctv.fire:cam-1"]
    cleared = r.tick(NOON_KST + timedelta(hours=3))
    assert "cctv.noisy:cam-1" in [k for k, e, _ in cleared if isinstance(e, Clear)]
    # calm again: a doubtful event is shown again
    later = r.on_event(ev(NOON_KST + timedelta(hours=3, minutes=1), "loitering", conf=0.55))
    assert [k for k, e, _ in later if isinstance(e, Raise)] == ["cctv.loitering:cam-1"]


def test_silent_camera_is_flagged_then_cleared() -> None:
    r = CctvRules(
        CctvConfig(min_confidence=0.95, silent_min_span_s=3600)
    )  # low-severity events are signs of life too
    for i in range(30):
        r.on_event(ev(NOON_KST + timedelta(minutes=10 * i), "loitering", conf=0.7))
    last = NOON_KST + timedelta(minutes=290)
    assert r.tick(last + timedelta(minutes=30)) == []  # 6/h: half an hour is normal
    flagged = r.tick(last + timedelta(hours=2))
    assert [k for k, e, _ in flagged if isinstance(e, Raise)] == ["cctv.silent:cam-1"]
    back = r.on_event(ev(last + timedelta(hours=3), "loitering", conf=0.7))
    assert ("cctv.silent:cam-1", Clear) in [(k, type(e)) for k, e, _ in back]


def test_an_offline_camera_is_not_also_silent() -> None:
    r = CctvRules(CctvConfig(min_confidence=0.95, silent_min_span_s=3600))
    for cam in ("cam-1", "cam-2"):
        for i in range(30):
            r.on_event(ev(NOON_KST + timedelta(minutes=10 * i), "loitering", cam=cam, conf=0.7))
    last = NOON_KST + timedelta(minutes=290)
    r.offline = {"cam-2"}  # its Last Will: off, which its device alert says
    flagged = r.tick(last + timedelta(hours=2))
    assert [k for k, e, _ in flagged if isinstance(e, Raise)] == ["cctv.silent:cam-1"]
    # cam-1 goes off too: its silence is explained now, and its silent alert clears saying so
    r.offline = {"cam-1", "cam-2"}
    cleared = [(k, e) for k, e, _ in r.tick(last + timedelta(hours=2, minutes=1)) if isinstance(e, Clear)]
    assert [k for k, _ in cleared] == ["cctv.silent:cam-1"] and "offline" in render(cleared[0][1].reason)
    assert not [e for _k, e, _ in r.tick(last + timedelta(hours=5)) if isinstance(e, Raise)]


_EVENTS = st.lists(
    st.tuples(
        st.integers(0, 900),  # seconds after the previous event
        st.sampled_from(["cam-1", "cam-2", "cam-3"]),
        st.sampled_from(["z1", "z2"]),
        st.sampled_from(["fire", "crowd"]),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_EVENTS)
def test_grouping_tells_every_event_once_and_never_beside_its_incident(
    events: list[tuple[int, str, str, str]],
) -> None:
    """Whatever the sequence: every event reaches an alert (its camera's or its zone's incident), and while
    an incident is live no camera of its zone opens a new alert of its type."""
    r = CctvRules()
    live: set[str] = set()
    t = NOON_KST
    for gap, cam, zone, kind in events:
        t += timedelta(seconds=gap)
        for k, e, _ in r.tick(t):
            if isinstance(e, Clear):
                live.discard(k)
        incident = f"cctv.incident.{kind}:zone:{zone}"
        incident_live, camera_live = incident in live, f"cctv.{kind}:{cam}" in live
        raised = [
            k for k, e, _ in r.on_event(ev(t, kind, cam=cam, zone=zone, count=10)) if isinstance(e, Raise)
        ]
        assert raised, "an event reached no alert"
        if incident_live and not camera_live:
            assert raised == [incident]  # grouped: no alert of its own
        assert all(k in (incident, f"cctv.{kind}:{cam}") for k in raised)
        live.update(raised)
