"""The city's time zone: every local hour the analytics and reports use follows CITYWATCH_TIMEZONE,
daylight saving included."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from analytics.airquality.baseline import SeasonalBaseline, slot
from analytics.cctv import CctvConfig, severity
from api.report import report_markdown
from citywatch import localtime
from citywatch.settings import Settings
from tests.support import ev

BERLIN = ZoneInfo("Europe/Berlin")


def test_the_default_is_seoul_and_an_unknown_zone_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().tz == localtime.SEOUL
    monkeypatch.setenv("CITYWATCH_TIMEZONE", "Europe/Berlin")
    assert Settings().tz == BERLIN
    monkeypatch.setenv("CITYWATCH_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        Settings()


def test_local_hours_follow_the_zone_and_its_daylight_saving() -> None:
    winter, summer = datetime(2026, 1, 5, 12, tzinfo=UTC), datetime(2026, 7, 6, 12, tzinfo=UTC)  # Mondays
    assert localtime.hour_of_week(winter, localtime.SEOUL) == 21  # 21:00 KST
    assert localtime.hour_of_week(winter, BERLIN) == 13  # CET
    assert localtime.hour_of_week(summer, BERLIN) == 14  # CEST
    assert slot(winter, BERLIN) == "wd13" and slot(winter) == "wd21"
    assert localtime.is_night(datetime(2026, 1, 5, 14, tzinfo=UTC), localtime.SEOUL)  # 23:00 in Seoul
    assert not localtime.is_night(datetime(2026, 1, 5, 14, tzinfo=UTC), BERLIN)  # 15:00 in Berlin


def test_a_station_baseline_learns_by_the_citys_hour() -> None:
    seoul, berlin = SeasonalBaseline(), SeasonalBaseline(tz=BERLIN)
    t = datetime(2026, 1, 5, 0, tzinfo=UTC)
    seoul.learn(t, 10.0)
    berlin.learn(t, 10.0)
    assert list(seoul.slots) == ["wd09"] and list(berlin.slots) == ["wd01"]
    assert SeasonalBaseline.from_state(berlin.state(), BERLIN).expected(t) == 10.0


def test_night_at_a_camera_is_the_citys_night() -> None:
    # intrusion: warning by day, critical at night (the packaged event table's rule)
    from analytics.config import default_text, parse

    cfg: CctvConfig = parse(default_text()).cctv
    at = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)  # midnight in Seoul, 17:00 in Berlin
    assert severity(ev(at, "intrusion"), cfg, localtime.SEOUL) != severity(ev(at, "intrusion"), cfg, BERLIN)


def test_the_shift_report_is_written_in_the_citys_time() -> None:
    t0, t1 = datetime(2026, 1, 5, 0, tzinfo=UTC), datetime(2026, 1, 5, 12, tzinfo=UTC)
    r = {
        "start": t0, "end": t1, "opened": 0, "opened_by_severity": {"critical": 0, "warning": 0, "info": 0},
        "escalated": 0, "mtta_s": None, "mttr_s": None, "still_open": [], "by_rule": [], "people": [],
        "episodes": [], "maintenance": [], "notifications": [], "operators": [], "load": None,
    }  # fmt: skip
    assert report_markdown(r).splitlines()[0] == "# Shift report 01-05 09:00 – 01-05 21:00 (KST)"
    assert report_markdown(r, BERLIN).splitlines()[0] == "# Shift report 01-05 01:00 – 01-05 13:00 (CET)"
