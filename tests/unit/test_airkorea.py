"""AirKorea's answer for a station's hours: its times, its numbers, its grades and its flags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

from alerts.maintenance import Window
from analytics.airquality.cai import cai
from api import airkorea
from citywatch.localtime import SEOUL

STATION = {"name": "장안동", "meta": {}}
END = datetime(2026, 12, 7, 6, tzinfo=UTC)  # 15:00 in Seoul
HOURLY = {"pm10": 72.5, "pm25": 48.4, "o3": 0.0425, "no2": 0.031, "co": 0.45, "so2": 0.0034}
DAY = {"pm10": 61.2, "pm25": 40.6}


def test_an_hour_is_named_by_its_end_in_the_city_s_time_and_midnight_ends_the_day() -> None:
    assert airkorea.data_time(END, SEOUL) == "2026-12-07 15:00"
    assert airkorea.data_time(datetime(2026, 12, 7, 15, tzinfo=UTC), SEOUL) == "2026-12-07 24:00"
    assert airkorea.data_time(datetime(2026, 12, 7, 16, tzinfo=UTC), SEOUL) == "2026-12-08 01:00"


def test_values_grades_and_the_cai_as_airkorea_writes_them() -> None:
    it = airkorea.item(STATION, airkorea.StationHour(END, HOURLY, DAY, {}), SEOUL)
    assert (it["pm10Value"], it["pm25Value"], it["pm10Value24"], it["pm25Value24"]) == (
        "73",
        "48",
        "61",
        "41",
    )
    assert (it["o3Value"], it["no2Value"], it["coValue"], it["so2Value"]) == (
        "0.043",
        "0.031",
        "0.5",
        "0.003",
    )
    # PM's grades: of the 24-hour mean and of the hour; the CAI of the 24-hour PM and the hour's gases
    assert (it["pm25Grade"], it["pm25Grade1h"], it["pm10Grade"], it["pm10Grade1h"]) == ("3", "3", "2", "2")
    assert (it["o3Grade"], it["no2Grade"], it["coGrade"], it["so2Grade"]) == ("2", "2", "1", "1")
    whole = cai({**{p: HOURLY[p] for p in airkorea.GASES}, **DAY})
    assert whole is not None and (it["khaiValue"], it["khaiGrade"]) == (str(whole.value), "3")
    assert all(it[f"{p}Flag"] is None for p in HOURLY)
    assert (it["stationName"], it["mangName"]) == ("장안동", "도시대기")
    roadside = airkorea.item(
        {**STATION, "meta": {"network": "도로변대기"}}, airkorea.StationHour(END, HOURLY, DAY, {}), SEOUL
    )
    assert roadside["mangName"] == "도로변대기"


def test_a_value_that_is_not_the_air_is_a_dash_with_its_flag_and_leaves_the_cai() -> None:
    """PM2.5 under a sensor fault: its values and grades gone, flagged 자료이상; the CAI, which PM2.5 had
    made unhealthy, is that of what is left."""
    h = airkorea.StationHour(END, HOURLY, DAY, {"pm25": airkorea.FAULT})
    it = airkorea.item(STATION, h, SEOUL)
    assert (it["pm25Value"], it["pm25Value24"], it["pm25Grade"], it["pm25Grade1h"]) == ("-", "-", None, None)
    assert it["pm25Flag"] == "자료이상" and it["pm10Flag"] is None and it["pm10Value"] == "73"
    rest = cai({**{p: HOURLY[p] for p in airkorea.GASES}, "pm10": DAY["pm10"]})
    assert rest is not None and it["khaiValue"] == str(rest.value) and it["khaiGrade"] == "2"
    silent = airkorea.item(
        STATION, airkorea.StationHour(END, {}, {}, airkorea.flags_of(END, False, [], [])), SEOUL
    )
    assert silent["khaiValue"] == "-" and silent["khaiGrade"] is None
    assert {silent[f"{p}Flag"] for p in HOURLY} == {"통신장애"}


def _window(starts: datetime, ends: datetime, rule_prefix: str | None = None) -> Window:
    return Window(1, "aq-001", rule_prefix, starts, ends, "zero and span check", "operator")


def test_a_station_s_maintenance_is_a_window_for_its_air_quality_rules() -> None:
    t = END
    assert _window(t, t + timedelta(hours=1)).concerns("aq")
    assert _window(t, t + timedelta(hours=1), "aq").concerns("aq")
    assert _window(t, t + timedelta(hours=1), "aq.stuck").concerns("aq")
    assert not _window(t, t + timedelta(hours=1), "device.offline").concerns("aq")
    assert not _window(t, t + timedelta(hours=1), "aqua").concerns("aq")


def test_which_hours_are_flagged_and_why() -> None:
    start = END - timedelta(hours=1)
    window = _window(
        start + timedelta(minutes=50), END + timedelta(hours=2)
    )  # from the hour's last ten minutes
    before = _window(start - timedelta(hours=3), start)  # a window that ended as the hour began
    fault = (start + timedelta(minutes=5), start + timedelta(minutes=20), ("pm25", "pm10"))
    assert airkorea.flags_of(END, True, [], []) == {}
    assert airkorea.flags_of(END, True, [before], []) == {}
    assert set(airkorea.flags_of(END, True, [window], [fault]).values()) == {"점검및교정"}
    assert airkorea.flags_of(END, True, [before], [fault]) == {"pm25": "자료이상", "pm10": "자료이상"}
    assert airkorea.flags_of(END + timedelta(hours=1), True, [], [fault]) == {}  # the fault was over
    assert airkorea.fault_pollutants("aq.saturation", {"pollutants": {"o3": "at 0.5 ppm"}}) == ("o3",)
    assert airkorea.fault_pollutants("aq.stuck", None) == ("pm25",)


def test_the_xml_answer_says_what_the_json_one_says() -> None:
    items = [
        airkorea.item(STATION, airkorea.StationHour(END, HOURLY, DAY, {"so2": airkorea.MAINTENANCE}), SEOUL)
    ]
    answer = airkorea.envelope(items, 24, 1, 10)
    root = ET.fromstring(airkorea.as_xml(answer))
    assert (root.findtext("header/resultCode"), root.findtext("header/resultMsg")) == ("00", "NORMAL_CODE")
    assert (
        root.findtext("body/totalCount"),
        root.findtext("body/pageNo"),
        root.findtext("body/numOfRows"),
    ) == (
        "24",
        "1",
        "10",
    )
    got = {e.tag: e.text for e in root.findall("body/items/item")[0]}
    assert got == items[0] and got["so2Flag"] == "점검및교정" and got["so2Grade"] is None
