"""Thresholds per device (the rules file's ``devices``): a station, a parking sensor or a camera with settings
of its own, over its zone's and the city's; the others keep theirs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.model import Raise, Severity
from analytics.airquality.quality import QualityConfig, Reading, ZoneQuality
from analytics.cctv import DEFAULT_EVENTS, CctvConfig, CctvRules, EventRule, severity
from analytics.config import parse
from analytics.parking import ParkingRules, SpaceReading
from tests.support import NOON_KST, ev

T0 = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
RULES = """
zones:
  industrial: {quality: {spike_min_jump: 30}}
  school: {cctv: {min_confidence: 0.3, quiet_s: 1200}}
devices:
  aq-017: {quality: {stuck_run: 30}}
  pk-01-001: {parking: {stuck_s: 3600}}
  cam-9: {cctv: {min_confidence: 0.9, quiet_s: 60}}
"""


def test_a_device_s_own_settings_lie_over_its_zone_s() -> None:
    r = parse(RULES)
    mine = r.quality_for_station("aq-017", "industrial")
    assert (mine.stuck_run, mine.spike_min_jump) == (30, 30.0)  # its own, and its zone's
    assert r.quality_for_station("aq-018", "industrial") == r.quality_for("industrial")
    sensor = r.settings_for("parking", "", "pk-01-001")
    assert (sensor.stuck_s, sensor.flap_per_h) == (3600, 12)
    assert r.settings_for("cctv", "", "cam-9").min_confidence == 0.9
    # a zone's own cctv settings, and a camera's own over them
    assert r.settings_for("cctv", "school", "cam-1").min_confidence == 0.3
    mine = r.settings_for("cctv", "school", "cam-9")
    assert (mine.min_confidence, mine.quiet_s) == (0.9, 60)
    assert r.has_own("cctv", "school", "cam-1") and not r.has_own("cctv", "", "cam-1")


def test_a_station_with_its_own_stuck_run() -> None:
    zq = ZoneQuality(QualityConfig(stuck_run=10))
    zq.overrides = {"aq-2": QualityConfig(stuck_run=30)}
    stuck: dict[str, int] = {}
    for i in range(25):  # both read the same value for 25 minutes
        t = T0 + timedelta(minutes=i)
        for f in zq.tick([Reading("aq-1", t, 20.0, 30.0, 50.0), Reading("aq-2", t, 20.0, 30.0, 50.0)]):
            if f.rule == "aq.stuck" and f.active:
                stuck.setdefault(f.station, i)
    assert stuck == {"aq-1": 9}  # aq-2 would need 30


def test_a_parking_sensor_with_its_own_stuck_time() -> None:
    r = ParkingRules({"lot": 10})
    r.overrides = {"pk-01-001": parse(RULES).settings_for("parking", "", "pk-01-001")}
    r.on_reading(SpaceReading("pk-01-001", "lot", T0, True))
    r.on_reading(SpaceReading("pk-01-002", "lot", T0, True))
    raised = [e for _k, e, _ in r.tick(T0 + timedelta(hours=2)) if isinstance(e, Raise)]
    # an hour for this one, a day for the others: the lot's one alert names it alone
    assert [(e.key, e.explanation.details["sensors"]) for e in raised] == [
        ("parking.stuck:lot", ["pk-01-001"])
    ]


def test_a_camera_with_its_own_confidence_and_quiet_time() -> None:
    r = CctvRules(CctvConfig())
    r.overrides = {"cam-9": parse(RULES).settings_for("cctv", "", "cam-9")}
    assert r.on_event(ev(NOON_KST, "fight", cam="cam-9", conf=0.8)) == []  # below its 0.9
    assert [k for k, _e, _t in r.on_event(ev(NOON_KST, "fight", cam="cam-1", conf=0.8))] == [
        "cctv.fight:cam-1"
    ]
    assert [k for k, _e, _t in r.on_event(ev(NOON_KST, "fire", cam="cam-9", conf=0.95))] == [
        "cctv.fire:cam-9"
    ]
    cleared = [k for k, _e, _t in r.tick(NOON_KST + timedelta(seconds=120))]
    assert cleared == ["cctv.fire:cam-9"]  # its own 60 s of quiet; cam-1's fight waits the city's 600


def test_the_rules_view_lists_what_each_device_and_zone_has_of_its_own() -> None:
    r = parse(RULES)
    assert r.zone_own["school"] == {"cctv": {"min_confidence": 0.3, "quiet_s": 1200.0}}
    assert r.device_own == {
        "aq-017": {"quality": {"stuck_run": 30}},
        "cam-9": {"cctv": {"min_confidence": 0.9, "quiet_s": 60.0}},
        "pk-01-001": {"parking": {"stuck_s": 3600.0}},
    }


def test_the_service_follows_device_settings_and_their_edits(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import time

    import psycopg

    from analytics.service import AnalyticsService
    from citywatch.settings import AnalyticsSettings, DatabaseSettings, Settings

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO zones VALUES ('school', 'School') ON CONFLICT DO NOTHING")
        for dev, kind, zone in (
            ("pk-01-001", "parking", None),
            ("cam-9", "cctv", None),
            ("cam-1", "cctv", "school"),
        ):
            conn.execute(
                "INSERT INTO devices (device_id, kind, name, zone_id) VALUES (%s, %s, %s, %s)",
                (dev, kind, dev, zone),
            )
    f = tmp_path / "rules.yaml"
    f.write_text(RULES)
    service = AnalyticsService(
        Settings(db=DatabaseSettings(url=db_url), analytics=AnalyticsSettings(rules_file=f))
    )
    service.step()
    assert (
        service.streams.parking.cfg_for("pk-01-001").stuck_s == 3600
        and service.streams.cctv.cfg_for("cam-9").quiet_s == 60
    )
    assert service.streams.cctv.cfg_for("cam-1").min_confidence == 0.3  # its zone's
    f.write_text(RULES.replace("stuck_s: 3600", "stuck_s: 7200"))
    later = time.time() + 5
    os.utime(f, (later, later))
    service.step()
    assert service.streams.parking.cfg_for("pk-01-001").stuck_s == 7200
    # an invalid edit is refused: the rules in force stay, and the service says why where the API reads it
    f.write_text(RULES.replace("stuck_s: 3600", "stuck_s: soon"))
    later += 5
    os.utime(f, (later, later))
    service.step()
    assert service.streams.parking.cfg_for("pk-01-001").stuck_s == 7200
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT state FROM analytics_state WHERE name = 'analytics:v1:rules'").fetchone()
    assert row is not None and "devices.pk-01-001.parking.stuck_s" in row[0]["refused"]


EVENTS = """
cctv:
  events:
    loitering: {day: warning}          # the city: loitering is a warning by day too
    illegal_parking: {night: "off"}   # and nobody is told of parking at night
zones:
  market: {cctv: {events: {crowd: {day: "off", above_count: {warning: 200}}}}}
devices:
  cam-7: {cctv: {events: {crowd: {above_count: {critical: 400}}, fall: {day: critical}}}}
"""
MIDNIGHT_KST = NOON_KST + timedelta(hours=12)


def test_the_event_table_merges_per_type_and_setting() -> None:
    r = parse(EVENTS)
    city = r.cctv.events
    assert city["loitering"] == EventRule("warning", "warning", {"school": "warning"})  # the rest kept
    assert city["illegal_parking"] == EventRule("info", "off")
    assert city["fire"] == DEFAULT_EVENTS["fire"]  # types not named: the packaged table
    market = r.settings_for("cctv", "market", "cam-1").events["crowd"]
    assert market == EventRule("off", "warning", {}, {}, {"warning": 200})
    cam7 = r.settings_for("cctv", "market", "cam-7").events
    # a setting given replaces the one beneath (the camera's counts, not the zone's and its own)
    assert cam7["crowd"] == EventRule("off", "warning", {}, {}, {"critical": 400})
    assert cam7["fall"] == EventRule("critical", None, {}, {"critical": 0.8}, {})
    assert cam7["loitering"] == city["loitering"]  # from the city, through the zone and the camera
    assert r.device_own["cam-7"]["cctv"]["events"] == {
        "crowd": {"above_count": {"critical": 400}},
        "fall": {"day": "critical"},
    }  # the rules view: only what the camera gives


SEVERITIES = [  # (camera, zone, event, when, count) -> severity under EVENTS
    ("cam-1", "", "loitering", NOON_KST, None, Severity.WARNING),  # the city's own table
    ("cam-1", "", "illegal_parking", NOON_KST, None, Severity.INFO),
    ("cam-1", "", "illegal_parking", MIDNIGHT_KST, None, None),  # off at night
    ("cam-1", "", "crowd", NOON_KST, 60, Severity.WARNING),  # the packaged 50
    ("cam-1", "market", "crowd", NOON_KST, 60, None),  # the market's crowds by day: off
    ("cam-1", "market", "crowd", MIDNIGHT_KST, 60, Severity.WARNING),  # at night still a warning
    ("cam-7", "market", "crowd", MIDNIGHT_KST, 450, Severity.CRITICAL),  # the camera's own count
    ("cam-7", "market", "fall", NOON_KST, None, Severity.CRITICAL),
    ("cam-8", "market", "fall", NOON_KST, None, Severity.WARNING),
]


@pytest.mark.parametrize(("cam", "zone", "kind", "at", "count", "expected"), SEVERITIES)
def test_a_camera_s_severity_follows_its_table(
    cam: str, zone: str, kind: str, at: datetime, count: int | None, expected: Severity | None
) -> None:
    cfg = parse(EVENTS).settings_for("cctv", zone, cam)
    assert severity(ev(at, kind, cam=cam, zone=zone or "z1", count=count, conf=0.7), cfg) == expected
