"""aq.shape: citywatch's general-purpose detector on each station's hourly series (pure)."""

from __future__ import annotations

import json
import math
from datetime import timedelta

from alerts.model import Clear, Raise
from analytics.shapes import ShapeConfig, ShapeWatch
from citywatch.i18n import render
from tools.bench.shapes import BREAK, T0, station_hours


def run(seed: int, hours: int, broken: bool, watch: ShapeWatch | None = None, start: int = 0):  # type: ignore[no-untyped-def]
    w = watch or ShapeWatch(ShapeConfig(pollutants=("pm25",)))
    events = []
    for i, t, x in station_hours(seed, hours, broken):
        if i >= start:
            events += [(i, key, e) for key, e in w.on_hour("aq-1", t, {"pm25": x})]
    return w, events


def test_a_broken_rhythm_inside_the_usual_range_raises_one_alert_that_clears() -> None:
    false_alarms = 0
    for seed in range(1, 6):
        _, events = run(seed, 24 * 42, broken=True)
        raised = [i for i, _k, e in events if isinstance(e, Raise)]
        in_break = [i for i in raised if i in BREAK]
        assert len(in_break) == 1, (seed, raised)
        cleared = [i for i, _k, e in events if isinstance(e, Clear) and i > in_break[0]]
        assert cleared and cleared[0] <= BREAK[-1] + 24, (
            seed,
            cleared,
        )  # back to its habits: the alert clears
        assert all(k == "aq.shape.pm25:aq-1" for _i, k, _e in events)
        false_alarms += len(raised) - 1
    # on five seeds of four habitual weeks after the warm-up: 4 measured (new weekday/weekend transitions)
    assert false_alarms <= 6


def test_a_habitual_station_rarely_alerts() -> None:
    """Twenty stations, five habitual weeks each after the warm-up week: 20 alerts measured (one per five
    station-weeks, mostly weekday/weekend transitions met for the first time)."""
    raised = sum(
        isinstance(e, Raise) for seed in range(1, 21) for _i, _k, e in run(seed, 24 * 42, broken=False)[1]
    )
    assert raised <= 30


def test_the_alert_explains_the_new_stretch_in_the_pollutants_unit() -> None:
    _, events = run(4, 24 * 42, broken=True)
    (i, key, e) = next(ev for ev in events if isinstance(ev[2], Raise))
    x = e.explanation
    assert key == "aq.shape.pm25:aq-1" and e.severity.name == "INFO"
    assert x.rule == "aq.shape.pm25" and x.observed is not None and x.threshold and x.threshold > 0
    assert x.details["scale_h"] in (40, 240) and x.window_end == T0 + timedelta(hours=i)
    assert x.window_start == x.window_end - timedelta(hours=x.details["scale_h"])
    assert len(x.details["shape"]) == len(x.details["nearest"]) == 4
    assert x.details["new_segments_h"] and set(x.details["new_segments_h"]) <= set(x.details["segments_h"])
    # the most different stretch, in µg/m³, against what the closest known pattern had there
    worst = max(zip(x.details["shape"], x.details["nearest"], strict=True), key=lambda p: abs(p[0] - p[1]))
    assert abs(worst[0] - worst[1]) > x.threshold and x.baseline == worst[1]
    assert "never seen at this station" in x.message and "µg/m³" in x.message


def test_a_new_high_beyond_everything_seen_says_so() -> None:
    w, _ = run(2, 24 * 10, broken=False)
    highest = w.detectors["pm25:aq-1"].highest
    events = w.on_hour("aq-1", T0 + timedelta(hours=24 * 10), {"pm25": 3 * highest})
    assert len(events) == 1 and isinstance(events[0][1], Raise)
    x = events[0][1].explanation
    assert "new high" in x.message and x.baseline == highest and x.observed == 3 * highest


def test_replayed_hours_and_missing_values_change_nothing() -> None:
    w, _ = run(1, 24 * 9, broken=False)
    d = w.detectors["pm25:aq-1"]
    count, last = d.count, T0 + timedelta(hours=24 * 9 - 1)
    assert w.on_hour("aq-1", last, {"pm25": 500.0}) == []  # an hour already learned (re-evaluated range)
    assert w.on_hour("aq-1", last - timedelta(hours=5), {"pm25": 500.0}) == []
    assert w.on_hour("aq-1", last + timedelta(hours=1), {"pm25": None}) == []
    assert (
        w.on_hour("aq-1", last + timedelta(hours=2), {"pm25": math.nan, "co": 0.4}) == []
    )  # co: not watched
    assert d.count == count and set(w.detectors) == {"pm25:aq-1"}


def test_a_restart_from_the_saved_state_continues_exactly() -> None:
    _, whole = run(3, 24 * 42, broken=True)
    first, _ = run(3, 24 * 30, broken=True)
    saved = json.loads(json.dumps(first.state()))  # as analytics_state keeps it (jsonb)
    resumed = ShapeWatch.from_state(saved, ShapeConfig(pollutants=("pm25",)))
    _, rest = run(3, 24 * 42, broken=True, watch=resumed, start=24 * 30)
    assert [(i, k, type(e)) for i, k, e in rest] == [(i, k, type(e)) for i, k, e in whole if i >= 24 * 30]
    assert any(isinstance(e, Raise) for _i, _k, e in rest)


def test_disabled_and_reconfigured() -> None:
    w, _ = run(1, 24 * 9, broken=False)
    w.configure(ShapeConfig(pollutants=("pm25",), clear_after_h=12))  # a reloaded rules file: no relearning
    assert "pm25:aq-1" in w.detectors and w.config.clear_after_h == 12
    w.configure(
        ShapeConfig(pollutants=("pm25",), vigilance=0.3)
    )  # a new vigilance: every station learns afresh
    assert w.detectors == {} and w.last_hour == {}
    w.configure(ShapeConfig(enabled=False))
    assert w.on_hour("aq-1", T0 + timedelta(days=30), {"pm25": 1e6}) == []


def test_a_station_that_goes_quiet_has_its_alert_cleared_and_is_forgotten_after_a_month() -> None:
    w, events = run(4, BREAK[0] + 1, broken=True)  # the break's first hour raised the alert, then silence
    assert isinstance(events[-1][2], Raise)
    last = T0 + timedelta(hours=BREAK[0])
    assert w.tick(last + timedelta(hours=5)) == []  # not yet clear_after_h (6 h)
    assert w.tick(last + timedelta(hours=6), stations={"aq-other"}) == []  # another partition's station
    cleared = w.tick(last + timedelta(hours=6))
    assert [k for k, _ in cleared] == ["aq.shape.pm25:aq-1"] and "no data since" in render(
        cleared[0][1].reason
    )
    assert w.tick(last + timedelta(hours=7)) == [] and "pm25:aq-1" in w.detectors
    w.tick(last + timedelta(days=31))
    assert w.detectors == {} and w.last_hour == {}  # a station silent for a month learns afresh


def test_turning_the_rule_off_clears_its_live_alerts() -> None:
    w, _ = run(4, BREAK[0] + 1, broken=True)
    w.configure(ShapeConfig(pollutants=("pm25",), enabled=False))
    last = T0 + timedelta(hours=BREAK[0])
    assert w.on_hour("aq-1", last + timedelta(hours=6), {"pm25": 30.0}) == []
    cleared = w.tick(last + timedelta(hours=6))
    assert len(cleared) == 1 and "turned off" in render(cleared[0][1].reason)


def test_only_keeps_what_was_learned_of_the_given_stations() -> None:
    w = ShapeWatch(ShapeConfig(pollutants=("pm25",)))
    for station in ("aq-1", "aq-2", "aq-3"):
        for _i, t, x in station_hours(1, 200, broken=False):
            w.on_hour(station, t, {"pm25": x})
    w.unusual_since["pm25:aq-2"] = T0
    w.only({"aq-1", "aq-2"})
    assert sorted(w.detectors) == sorted(w.last_hour) == ["pm25:aq-1", "pm25:aq-2"]
    assert list(w.unusual_since) == ["pm25:aq-2"]
