"""Alarm load (pure): the ISA-18.2 / EEMUA 191 measures of what reached the operators — rate and its
rating, peak, floods (start above 10 per 10 min, last while at least 5), bad actors, chattering,
severity mix and stale alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerts.load import Annunciation, alarm_load, chattering, floods, rating
from alerts.model import Severity

T0 = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)


def _a(
    minute: float, rule: str = "r", subject: str = "s", sev: Severity = Severity.INFO, i: int = 0
) -> Annunciation:
    return Annunciation(T0 + timedelta(minutes=minute), i, rule, subject, sev)


@pytest.mark.parametrize(
    ("per_10min", "words"),
    [(0.0, "very likely acceptable"), (1.0, "very likely acceptable"), (1.5, "manageable"),
     (2.0, "manageable"), (2.01, "over-demanding")],
)  # fmt: skip
def test_the_rate_is_rated_as_the_guidelines_do(per_10min: float, words: str) -> None:
    assert rating(per_10min) == words


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([0, 3, 10, 4], []),  # 10 is not more than 10
        ([0, 11, 0], [(1, 2, 11)]),
        ([11, 7, 5, 4, 12], [(0, 3, 23), (4, 5, 12)]),  # lasts while at least 5; a new one later
        ([2, 30, 6, 5, 5], [(1, 5, 46)]),  # still on at the end of the range
    ],
)
def test_floods_start_above_10_and_last_while_at_least_5(
    counts: list[int], expected: list[tuple[int, int, int]]
) -> None:
    got = floods(counts, T0)
    step = timedelta(minutes=10)
    assert [(f["start"], f["end"], f["annunciations"]) for f in got] == [
        (T0 + a * step, T0 + b * step, n) for a, b, n in expected
    ]


def test_chattering_is_three_within_a_minute_of_one_rule_and_subject() -> None:
    items = [
        _a(0, subject="cam-1"), _a(0.4, subject="cam-1"), _a(0.9, subject="cam-1"), _a(5, subject="cam-1"),
        _a(0, subject="cam-2"), _a(1.2, subject="cam-2"), _a(2.4, subject="cam-2"),  # 3, but never within 60 s
        _a(0.1, rule="q", subject="cam-1"),  # another rule: not the same alert
    ]  # fmt: skip
    assert chattering(items) == [{"rule": "r", "subject": "cam-1", "most_in_60s": 3, "at": T0}]


def test_a_quiet_shift_is_acceptable_and_says_so() -> None:
    items = [_a(m * 20, subject=f"d{m}", i=m) for m in range(6)]  # 6 in 2 h: 0.5 per 10 min
    x = alarm_load(items, T0, T0 + timedelta(hours=2))
    assert (x["annunciations"], x["per_10min"], x["per_hour"], x["per_day"]) == (6, 0.5, 3.0, 72.0)
    assert x["rating"] == "very likely acceptable"
    assert x["floods"] == [] and x["time_in_flood"] == 0.0 and x["chattering"] == []
    assert x["peak_10min"]["annunciations"] == 1 and x["severity_mix"]["info"] == 1.0
    assert (x["warning_or_worse"], x["warning_or_worse_per_10min"]) == (0, 0.0)  # information only


def test_a_storm_shows_its_flood_its_bad_actor_and_its_severity_mix() -> None:
    storm = [_a(60 + k * 0.5, "parking.flapping", "sp-7", Severity.WARNING, i=k) for k in range(30)]  # 15 min
    rest = [_a(k * 12, "aq.spike", f"aq-{k}", Severity.CRITICAL if k % 2 else Severity.INFO, i=100 + k)
            for k in range(10)]  # fmt: skip
    outside = [_a(-5), _a(24 * 60)]  # before and after the range: not counted
    x = alarm_load([*storm, *rest, *outside], T0, T0 + timedelta(hours=2))
    assert x["annunciations"] == 40 and x["per_10min"] == pytest.approx(40 / 12, abs=1e-3)
    assert x["rating"] == "over-demanding"
    assert x["peak_10min"] == {"annunciations": 21, "start": T0 + timedelta(hours=1)}  # 20 + the spike at 60
    assert [(f["start"], f["end"], f["annunciations"]) for f in x["floods"]] == [
        (T0 + timedelta(hours=1), T0 + timedelta(minutes=80), 32)  # 21, then 11 (at least 5), then 1
    ]
    assert x["time_in_flood"] == pytest.approx(2 / 12, abs=1e-4)
    assert x["top"][0] == {"rule": "parking.flapping", "subject": "sp-7", "annunciations": 30, "share": 0.75}
    assert len(x["top"]) == 10 and x["top_share"] == 0.975  # the flapping sensor and 9 of the 10 spikes
    assert x["chattering"][0]["subject"] == "sp-7" and x["chattering"][0]["most_in_60s"] == 3
    assert x["severity_mix"] == {"info": 0.125, "warning": 0.75, "critical": 0.125}
    # the alarms alone: the 30 flapping warnings and the 5 critical spikes, not the 5 info ones
    assert x["warning_or_worse"] == 35 and x["warning_or_worse_per_10min"] == pytest.approx(35 / 12, abs=1e-3)
    assert x["warning_or_worse_rating"] == "over-demanding"


def test_stale_alerts_are_those_live_for_more_than_a_day_at_the_end() -> None:
    end = T0 + timedelta(hours=12)
    live = [end - timedelta(hours=25), end - timedelta(hours=24), end - timedelta(hours=1)]
    x = alarm_load([], T0, end, live)
    assert x["stale"] == 1 and x["annunciations"] == 0 and x["top_share"] == 0.0
    assert x["rating"] == "very likely acceptable"


def test_a_range_must_go_forward() -> None:
    with pytest.raises(ValueError, match="after start"):
        alarm_load([], T0, T0)


def test_intervals_line_up_with_the_clock_whatever_the_range() -> None:
    start = T0 + timedelta(minutes=7)  # 00:07: the first interval is 00:00–00:10, partly in the range
    items = [_a(9.5 + k * 0.01, i=k) for k in range(12)] + [_a(10.5 + k * 0.1, i=50 + k) for k in range(6)]
    x = alarm_load(items, start, start + timedelta(minutes=30))
    assert x["peak_10min"] == {"annunciations": 12, "start": T0}
    assert [(f["start"], f["end"]) for f in x["floods"]] == [(T0, T0 + timedelta(minutes=20))]
    assert x["time_in_flood"] == pytest.approx(13 / 30, abs=1e-4)  # 00:07–00:20 of the 30 minutes


def test_the_guidelines_are_per_operator() -> None:
    """30 in 10 minutes is a flood for one operator; shared by four (8 each) it is not, and the mean rate
    each carries is a quarter."""
    items = [_a(60 + k * 0.3, subject=f"d{k}", i=k) for k in range(30)]
    one = alarm_load(items, T0, T0 + timedelta(hours=2))
    four = alarm_load(items, T0, T0 + timedelta(hours=2), operators=4)
    assert len(one["floods"]) == 1 and one["floods"][0]["annunciations"] == 30
    assert four["floods"] == [] and four["time_in_flood"] == 0.0
    assert four["per_10min"] == pytest.approx(one["per_10min"] / 4, abs=1e-3) and four["operators"] == 4
    assert four["peak_10min"]["annunciations"] == 30  # the centre's busiest 10 minutes, whoever took them
    with pytest.raises(ValueError, match="operators"):
        alarm_load(items, T0, T0 + timedelta(hours=1), operators=0)
