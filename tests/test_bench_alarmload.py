"""`citywatch bench alarmload`, shortened: simulated hours through ingest and the analytics service, and
the alarm load of what its rules raised — every figure there and consistent with the alerts table."""

from __future__ import annotations

from citywatch.bench.alarmload import run


def test_the_alarm_load_of_simulated_hours() -> None:
    out = run(days=0.25, faults_per_kind=1)
    assert out["messages"] > 10_000 and out["alerts"] > 0, out
    assert sum(out["alerts_by_rule"].values()) == out["alerts"]
    # every alert opened once at least (none under maintenance here), some re-opened
    assert out["alarm_annunciations"] >= out["alerts"], out
    assert out["alarm_rating"] in ("very likely acceptable", "manageable", "over-demanding")
    assert 0 <= out["alarm_time_in_flood"] <= 1 and 0 < out["alarm_top_share"] <= 1
    assert abs(sum(out["alarm_severity_mix"].values()) - 1.0) < 0.01
    assert 1 <= out["alarm_peak_10min"] <= out["alarm_annunciations"] and len(out["alarm_top"]) <= 10
    assert sum(t["annunciations"] for t in out["alarm_top"]) <= out["alarm_annunciations"]
