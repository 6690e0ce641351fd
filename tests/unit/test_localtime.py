"""The city's time zone: every local hour the analytics and reports use follows CITYWATCH_TIMEZONE,
daylight saving included."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from analytics.airquality.baseline import SeasonalBaseline, slot
from analytics.cctv import CctvConfig, severity
from api.catalogue import messages
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
    en, ko = messages()["en"], messages()["ko"]
    assert (
        report_markdown(r, localtime.SEOUL, en).splitlines()[0]
        == "# Shift report 01-05 09:00 – 01-05 21:00 (KST)"
    )
    assert report_markdown(r, BERLIN, en).splitlines()[0] == "# Shift report 01-05 01:00 – 01-05 13:00 (CET)"
    assert (
        report_markdown(r, localtime.SEOUL, ko).splitlines()[0]
        == "# 교대 보고서 01-05 09:00 – 01-05 21:00 (KST)"
    )


def test_the_shift_report_text_is_in_the_readers_language() -> None:
    t0, t1 = datetime(2026, 1, 5, 0, tzinfo=UTC), datetime(2026, 1, 5, 12, tzinfo=UTC)
    load = {
        "annunciations": 40,
        "per_10min": 0.56,
        "rating": "very likely acceptable",
        "peak_10min": {"annunciations": 6, "start": t0},
        "time_in_flood": 0.0,
        "warning_or_worse": 9,
        "warning_or_worse_per_10min": 0.13,
        "warning_or_worse_rating": "very likely acceptable",
        "severity_mix": {"info": 0.8, "warning": 0.15, "critical": 0.05},
        "stale": 1,
        "floods": [],
        "chattering": [{"rule": "parking.flapping", "subject": "p-7", "most_in_60s": 4, "at": t0}],
        "top": [{"rule": "aq.shape.o3", "subject": "aq-1", "annunciations": 12, "share": 0.3}],
    }
    r = {
        "start": t0, "end": t1, "opened": 3, "opened_by_severity": {"critical": 1, "warning": 1, "info": 1},
        "escalated": 1, "escalated_further": 0, "mtta_s": 240.0, "mttr_s": 7200.0,
        "still_open": [{"id": 7, "severity": "critical", "state": "acknowledged", "title": "초미세먼지(PM2.5) 경보: 팔달구",
                        "opened_at": t0, "assignee": "kim"}],
        "by_rule": [{"rule": "aq.advisory.pm25", "opened": 1, "worst": "critical", "still_open": 1}],
        "episodes": [{"id": 7, "title": "초미세먼지(PM2.5) 경보: 팔달구", "severity": "critical", "since": t0,
                      "until": None, "involved": [f"aq-{i}" for i in range(14)]}],
        "maintenance": [], "notifications": [{"sink": "sms", "sent": 2, "held_back": 0, "not_routed": 1}],
        "operators": [{"actor": "kim", "acknowledged": 1, "resolved": 0, "commented": 2}], "load": load,
    }  # fmt: skip
    ko = report_markdown(r, localtime.SEOUL, messages()["ko"])
    assert (
        "**경보 3건 발생** — 긴급 1, 경고 1, 정보 1; 상향 1건. 평균 확인 시간 4분, 평균 해결 시간 2.0시간."
        in ko
    )
    assert "| 7 | 긴급 | 확인 | 초미세먼지(PM2.5) 경보: 팔달구 | 01-05 09:00 | kim |" in ko
    assert "01-05 09:00 – 진행 중; 14대: aq-0, aq-1" in ko and "외 2대" in ko
    assert "(적정; 약 1건이 적정" in ko and "- kim: 확인 1, 해결 0, 메모 2" in ko and "- sms: 발송 2" in ko
    assert "- 반복 발생: p-7의 parking.flapping, 01-05 09:00부터 60초 안에 4회" in ko
    en = report_markdown(r, localtime.SEOUL, messages()["en"])
    assert "**3 alerts opened** — critical 1, warning 1, info 1; 1 escalated." in en
    assert "(very likely acceptable; about 1 is acceptable" in en and "and 2 more" in en
    latin_words = re.compile(r"\b(the|of|in|by|sent|alerts?|opened|acknowledged|none|minutes?)\b", re.I)
    assert not latin_words.search(ko.replace("parking.flapping", "").replace("aq.advisory.pm25", "")), ko
