"""Advisories on validated data: what a station's hour is worth (plausibility, full scale, zone peers,
rate of change), the area's median of believable stations, unconfirmed station advisories and how they
are confirmed, and the inconsistency rule's tolerance. Real-shaped hourly sequences throughout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.model import Raise, Severity
from analytics.airquality.advisory import CONFIRM_AFTER_H, RULES, Event, Level, State, advance
from analytics.airquality.quality import Reading, ZoneQuality
from analytics.airquality.validation import VALID, Hour, Verdict, area, judge
from analytics.rules import advisory_event, advisory_severity, saturation_event
from citywatch.contracts.instruments import Instruments, Range
from citywatch.i18n import Text, render

T0 = datetime(2026, 5, 10, 0, tzinfo=UTC)
ZONE = {"a": "z", "b": "z", "c": "z", "d": "z", "lone": "other"}


def test_a_lone_ozone_value_many_times_its_peers_is_suspect_and_theirs_valid() -> None:
    hours = {"a": Hour(0.041), "b": Hour(0.038), "c": Hour(0.044), "d": Hour(0.52)}
    v = judge("o3", hours, {}, ZONE)
    assert v["d"].status == "suspect" and "zone peers' median" in v["d"].reason, v["d"]
    assert {v[s] for s in "abc"} == {VALID}


def test_a_shared_rise_is_valid_however_fast() -> None:
    hours = {s: Hour(0.13 + i * 0.01, previous=0.03) for i, s in enumerate("abcd")}
    assert set(judge("o3", hours, {}, ZONE).values()) == {VALID}


def test_alone_a_rise_faster_than_the_air_is_suspect_and_a_slow_one_valid() -> None:
    fast = judge("o3", {"lone": Hour(0.55, previous=0.04)}, {}, ZONE)["lone"]
    assert fast.status == "suspect" and "in an hour" in fast.reason
    assert judge("o3", {"lone": Hour(0.13, previous=0.1)}, {}, ZONE)["lone"] == VALID
    assert judge("o3", {"lone": Hour(0.55)}, {}, ZONE)["lone"] == VALID  # nothing to compare with


def test_one_peer_is_not_enough_to_doubt_a_station() -> None:
    v = judge("pm25", {"a": Hour(180), "b": Hour(20)}, {}, ZONE)
    assert v == {"a": VALID, "b": VALID}


def test_a_reading_at_the_analysers_full_scale_is_invalid_even_when_only_its_highest_minute_got_there() -> (
    None
):
    kit = {"a": Instruments(co=Range(full_scale=50)), "b": Instruments(o3=Range(full_scale=0.5))}
    co = judge("co", {"a": Hour(50.0), "b": Hour(0.4, highest=0.6)}, kit, ZONE)
    assert co["a"].status == "invalid" and "full scale 50" in co["a"].reason
    assert co["b"] == VALID  # b's CO analyser keeps the default 0-50 ppm
    o3 = judge("o3", {"b": Hour(0.3, highest=0.5)}, kit, ZONE)["b"]
    assert o3.status == "invalid" and "full scale 0.5" in o3.reason
    # an invalid station is no peer: the others are judged among themselves
    v = judge("co", {"a": Hour(50.0), "c": Hour(0.4), "d": Hour(0.5)}, kit, ZONE)
    assert v["c"] == v["d"] == VALID


def test_the_area_is_the_median_of_its_believable_stations_naming_what_it_left_out() -> None:
    values = {"a": 0.041, "b": 0.038, "c": 0.044, "d": 0.52}
    verdicts = judge("o3", {s: Hour(x) for s, x in values.items()}, {}, ZONE)
    a = area(values, verdicts, believed={})
    assert a.value == pytest.approx(0.041) and set(a.stations) == {"a", "b", "c"}
    assert list(a.excluded) == ["d"] and "zone peers' median" in render(a.excluded["d"])
    assert "같은 구역 측정소 3곳의 중앙값" in render(a.excluded["d"], "ko")
    # a doubt lifted by persistence counts again
    assert set(area(values, verdicts, believed={"d": True}).stations) == {"a", "b", "c", "d"}
    full = Text("why.aq.full_scale", {"p": "CO", "full_scale": "50", "unit": "ppm"})
    nothing = area({"a": 50.0}, {"a": Verdict("invalid", full)}, {})
    assert nothing.value is None and nothing.excluded == {"a": full}


def feed(
    values: list[tuple[float, bool]], pollutant: str = "o3"
) -> tuple[State, list[tuple[int, str, Level, bool]]]:
    state, out = State(), []
    for h, (v, trusted) in enumerate(values):
        state, events = advance(RULES[pollutant], state, T0 + timedelta(hours=h), v, trusted)
        out += [(h, e.kind, e.level, e.confirmed) for e in events]
    return state, out


G, W, A, N = Level.GRAVE, Level.WARNING, Level.ADVISORY, Level.NONE


def test_a_doubtful_hour_issues_an_unconfirmed_advisory_that_a_believable_one_confirms() -> None:
    _, out = feed([(0.55, False), (0.52, True), (0.05, True)])
    assert out == [(0, "issued", G, False), (1, "confirmed", G, True), (2, "lifted", N, True)]


def test_a_glitch_of_one_hour_stays_unconfirmed_and_is_lifted() -> None:
    _, out = feed([(0.03, True), (0.55, False), (0.03, True)])
    assert out == [(1, "issued", G, False), (2, "lifted", N, True)]


def test_a_doubt_that_persists_is_believed_in_its_third_hour() -> None:
    state, out = feed([(0.2, False)] * (CONFIRM_AFTER_H + 1))
    assert out == [(0, "issued", A, False), (CONFIRM_AFTER_H - 1, "confirmed", A, True)]
    assert state.believed and state.confirmed


def test_a_doubtful_raise_above_a_confirmed_level_keeps_that_levels_severity() -> None:
    state, out = feed([(0.32, True), (0.55, False)])
    assert out == [(0, "issued", W, True), (1, "raised", G, False)]
    assert state.confirmed_level is W
    assert advisory_severity(G, W) is Severity.CRITICAL  # never below the confirmed 경보
    assert advisory_severity(G, N) is Severity.WARNING  # alone, one lower
    assert advisory_severity(A, N) is Severity.INFO
    assert advisory_severity(A, A) is Severity.WARNING and advisory_severity(W, W) is Severity.CRITICAL


def test_an_unconfirmed_advisory_alert_says_so_and_why_then_is_restated_when_confirmed() -> None:
    state, _ = feed([(0.55, False)])
    doubt = Text(
        "why.aq.above_peers",
        {"p": "O3", "value": "0.55", "unit": "ppm", "peers": 3, "median": "0.041", "times": 13.4},
    )
    state2, events = advance(RULES["o3"], state, T0 + timedelta(hours=1), 0.53, True)
    issued = advisory_event("o3", "d", Event("issued", G, N, T0, 0.55, N), T0, doubt)[1]
    assert isinstance(issued, Raise) and issued.restate
    assert issued.severity is Severity.WARNING and "unconfirmed (미확인)" in issued.title
    said = render(doubt)
    assert said == "O3 0.55 ppm, 13.4× its 3 zone peers' median 0.041"
    assert issued.explanation.details["unconfirmed"] == said and said in issued.explanation.message
    korean = render(Text.from_json(issued.explanation.details["text"]["message"]), "ko")  # type: ignore[arg-type]
    assert korean.startswith("1시간 평균 0.55: 중대경보 발령, 미확인") and "중앙값 0.041의 13.4배" in korean
    confirmed = advisory_event("o3", "d", events[0], state2.since)[1]
    assert isinstance(confirmed, Raise) and confirmed.severity is Severity.CRITICAL
    assert "unconfirmed" not in confirmed.title and "중대경보" in confirmed.title


def test_a_zone_advisory_names_the_readings_it_is_the_median_of_and_those_left_out() -> None:
    state, events = advance(RULES["o3"], State(), T0, 0.13, True)
    key, ev = advisory_event(
        "o3",
        "zone:z",
        events[0],
        state.since,
        excluded={"d": Text("why.aq.full_scale", {"p": "O3", "full_scale": "0.5", "unit": "ppm"})},
        readings={"a": 0.13, "b": 0.12},
    )
    assert key == "aq.advisory.o3:zone:z" and isinstance(ev, Raise)
    assert ev.explanation.details["readings"] == {"a": 0.13, "b": 0.12}
    assert ev.explanation.details["excluded"] == {"d": "O3 at its analyser's full scale 0.5 ppm"}
    assert "hourly median" in ev.explanation.message
    assert "d excluded: O3 at its analyser's full scale 0.5 ppm" in ev.explanation.message


def test_an_analyser_at_full_scale_for_hours_is_stuck_there() -> None:
    full = Text("why.aq.full_scale", {"p": "CO", "full_scale": "50", "unit": "ppm"})
    one = saturation_event("a", {"co": full}, 1, T0)
    three = saturation_event("a", {"co": full}, 3, T0)
    assert one.explanation.details["pollutants"] == {"co": "CO at its analyser's full scale 50 ppm"}
    assert one.explanation.message.startswith("CO at its analyser's full scale 50 ppm — 1 hour(s) running")
    assert one.title.startswith("Analyser at full scale (co)") and one.severity is Severity.WARNING
    assert three.title.startswith("Analyser stuck at full scale (co)") and three.explanation.details["stuck"]


def _range_findings(pairs: list[tuple[float, float]], step_s: float = 3600) -> list[tuple[int, bool]]:
    zq, out = ZoneQuality(), []
    for i, (pm25, pm10) in enumerate(pairs):
        t = T0 + timedelta(seconds=i * step_s)
        out += [(i, f.active) for f in zq.tick([Reading("a", t, pm25, pm10)]) if f.rule == "aq.range"]
    return out


def test_pm25_a_little_above_pm10_is_within_two_analysers_uncertainty() -> None:
    # real stations: PM2.5 a few µg/m³ above PM10 in some hours, for hours on end
    assert _range_findings([(38 + i % 3, 35 + i % 2) for i in range(48)]) == []


def test_pm25_far_above_pm10_for_one_or_two_hours_is_not_yet_a_fault() -> None:
    assert _range_findings([(20, 30)] * 5 + [(90, 30), (95, 31)] + [(20, 30)] * 5) == []


def test_pm25_far_above_pm10_that_persists_is_a_fault_and_clears_once_consistent() -> None:
    got = _range_findings([(20, 30)] * 3 + [(90, 30)] * 4 + [(20, 30)] * 12)
    assert got == [(5, True), (16, False)]  # the third reading, two hours after the first; 10 consistent ones
