"""`citywatch bench alarmload`, shortened: simulated hours through ingest and the analytics service, and
the alarm load of what its rules raised — every figure there and consistent with the alerts table."""

from __future__ import annotations

from datetime import datetime

import pytest

from tools.bench.alarmload import run, span

START = datetime.fromisoformat("2026-11-02T06:00:00+09:00")  # a Monday morning in the control room


def test_the_alarm_load_of_simulated_hours() -> None:
    out = run(days=0.25, faults_per_kind=1, start_at=START)
    assert out["messages"] > 10_000 and out["alerts"] > 0, out
    assert sum(out["alerts_by_rule"].values()) == out["alerts"]
    # every alert opened once at least (none under maintenance here), some re-opened
    assert out["alarm_annunciations"] >= out["alerts"], out
    assert out["alarm_rating"] in ("very likely acceptable", "manageable", "over-demanding")
    assert 0 <= out["alarm_time_in_flood"] <= 1 and 0 < out["alarm_top_share"] <= 1
    assert abs(sum(out["alarm_severity_mix"].values()) - 1.0) < 0.01
    assert 1 <= out["alarm_peak_10min"] <= out["alarm_annunciations"] and len(out["alarm_top"]) <= 10
    assert sum(t["annunciations"] for t in out["alarm_top"]) <= out["alarm_annunciations"]
    assert out["reevaluation_rows"]["air_quality"] > 0 and out["reevaluation_rows_per_s"] > 0
    # a run from the same start raises the same alerts, so that runs before and after a change compare
    # (every figure but how fast the machine re-evaluated them)
    again = run(days=0.25, faults_per_kind=1, start_at=START)
    assert datetime.fromisoformat(out["start"]) == START
    speed = "reevaluation_rows_per_s"
    assert {k: v for k, v in again.items() if k != speed} == {k: v for k, v in out.items() if k != speed}


def test_the_simulated_range_is_in_the_past_and_says_its_zone() -> None:
    now = START.timestamp() + 86400
    assert span(0.5, START, now) == (START.timestamp(), START.timestamp() + 43200)
    assert span(1.0, None, now) == (
        now - 120 - 86400,
        now - 120,
    )  # default: the last day, up to 2 minutes ago
    with pytest.raises(ValueError, match="future"):
        span(1.0, START, now)
    with pytest.raises(ValueError, match="time zone"):
        span(0.5, START.replace(tzinfo=None), now)
    with pytest.raises(ValueError, match="positive"):
        span(0, START, now)
