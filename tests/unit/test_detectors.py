"""One contract for every detector, then each detector on its own fault."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from typing import Any

import pytest

from analytics.detectors import Cusum, Detector, Flatline, Spike, WindowNovelty

FACTORIES: dict[str, Callable[[], Detector]] = {
    "flatline": lambda: Flatline(min_run=10),
    "spike": lambda: Spike(),
    "cusum": lambda: Cusum(grace_period=100),
    "window": lambda: WindowNovelty(grace_period=500),
}
# a WindowNovelty alarm scores > 0.5; Spike alone reaches about 7 on long Gaussian noise, so the air-quality
# rule's 6 also asks the reading to jump by 15 µg/m³ (QualityConfig.spike_min_jump)
THRESHOLD = {"flatline": 1.0, "spike": 8.0, "cusum": 1.0, "window": 0.5}


def clean(seed: int, n: int = 2000) -> list[float]:
    r = random.Random(seed)
    return [round(20 + 5 * r.gauss(0, 1), 1) for _ in range(n)]


def run(d: Detector, xs: list[float]) -> list[float]:
    out = []
    for x in xs:
        out.append(d.score_one(x))
        d.learn_one(x)
    return out


@pytest.mark.parametrize("name", FACTORIES)
def test_deterministic(name: str) -> None:
    assert run(FACTORIES[name](), clean(1)) == run(FACTORIES[name](), clean(1))


def smooth(seed: int, n: int = 3000) -> list[float]:
    """A clean sensor: a daily cycle (one value a minute... squeezed to 288 values a day) with noise."""
    r = random.Random(seed)
    return [round(20 + 8 * math.sin(2 * math.pi * i / 288) + r.gauss(0, 0.5), 2) for i in range(n)]


@pytest.mark.parametrize("name", FACTORIES)
def test_quiet_on_clean_data(name: str) -> None:
    for seed in range(5):
        # WindowNovelty learns shapes, and white noise has none: it is held to a cycling sensor
        xs = smooth(seed) if name == "window" else clean(seed)
        scores = run(FACTORIES[name](), xs)
        assert max(scores) < THRESHOLD[name], (seed, max(scores))


def test_window_false_alarm_rate_on_white_noise() -> None:
    """The known cost of remembering every extreme: 500 values of white noise do not cover its
    tails, so a new high or low now and then is an alarm. Measured: 1 to 4 alarms in 5,500
    scored values per seed; held here to at most 1 in 1,000."""
    for seed in range(6):
        scores = run(WindowNovelty(grace_period=500), clean(seed, 6000))
        assert sum(1 for s in scores if s > 0.5) <= 6, seed


@pytest.mark.parametrize("name", [n for n, make in FACTORIES.items() if make().grace_period > 0])
def test_silent_during_grace_period(name: str) -> None:
    """The detectors with a grace period (flatline has none: a run of equal values is one at once)."""
    d = FACTORIES[name]()
    scores = run(d, clean(3)[: d.grace_period])
    assert len(scores) == d.grace_period > 0
    assert all(s == 0.0 for s in scores)


@pytest.mark.parametrize("name", FACTORIES)
def test_state_survives_a_restart(name: str) -> None:
    xs = clean(4)
    a = FACTORIES[name]()
    run(a, xs[:1000])
    b = type(a).from_state(json.loads(json.dumps(a.state())))  # type: ignore[attr-defined]
    assert run(a, xs[1000:]) == run(b, xs[1000:])


def test_flatline_fires_on_stuck_values() -> None:
    xs = [*clean(5, 200), *[23.4] * 15, *clean(6, 50)]
    scores = run(Flatline(min_run=10), xs)
    first = next(i for i, s in enumerate(scores) if s >= 1.0)
    assert first == 200 + 9
    assert max(scores[215 + 1 :]) < 1.0


def test_spike_fires_on_an_outlier() -> None:
    xs = clean(7, 300)
    xs[250] = xs[249] * 6
    scores = run(Spike(), xs)
    assert scores[250] > 8.0
    assert max(scores[:250]) < 8.0


def test_spike_judges_a_lone_outlier_by_its_level_too() -> None:
    """A noisy steady stream: an outlier of 1.6 (a 5x jump in log-ratio terms) stands further out from the
    recent values than from the recent changes, which are sqrt(2) times as spread."""
    r = random.Random(11)
    xs = [r.gauss(0, 0.15) for _ in range(300)]
    xs[250] = 1.6
    d = Spike()
    run(d, xs[:250])
    by_change, by_level = d.scores(xs[250])
    assert by_level > by_change and by_level > 6.0
    assert d.score_one(xs[250]) == by_level
    d.learn_one(xs[250])
    assert d.scores(xs[251])[1] < 3.0  # the return: back at its level, though a large change


def test_spike_state_saved_before_the_level_score_still_loads() -> None:
    d = Spike()
    run(d, clean(3, 100))
    old = {k: v for k, v in d.state().items() if k not in ("values", "level_window")}
    again = Spike.from_state(old)
    assert again.diffs == d.diffs and list(again.values) == []
    assert again.score_one(20.0) >= 0.0  # scores by change until its level window refills


def test_cusum_fires_on_slow_drift_not_on_noise() -> None:
    xs = clean(8, 600)
    drifted = [x + 0.05 * max(0, i - 300) for i, x in enumerate(xs)]  # +0.05 per reading after 300
    scores = run(Cusum(grace_period=100), drifted)
    first = next(i for i, s in enumerate(scores) if s >= 1.0)
    assert 300 < first < 500


def test_window_fires_on_a_new_level_once_then_rests() -> None:
    xs = smooth(9, 3000)
    shifted = xs[:2000] + [x + 40 for x in xs[2000:]]  # a level never reached before
    d = WindowNovelty(grace_period=500, rest=100)
    scores = run(d, shifted)
    assert max(scores[:2000]) == 0.0
    assert scores[2000] == 1.0  # the first alarm in memory scores 1
    assert max(scores[2001:2100]) == 0.0  # resting: one anomaly, one alarm
    # the new regime is learned: an alarm now and then while its own shapes are first met
    assert sum(1 for s in scores[2100:] if s > 0.5) <= 2
    why = WindowNovelty.from_state(d.state()).explain(shifted[-1])  # the new level is familiar now
    assert not why["new_extreme"] and [s["new"] for s in why["scales"]] == [False, False]
    assert all(s["distance"] <= why["vigilance"] and s["new_segments"] == [] for s in why["scales"])


def test_window_fires_on_a_broken_shape_within_the_normal_range() -> None:
    """A square wave whose values stay in range but whose rhythm breaks: a jump never made."""
    period = [0.0] * 10 + [5.0] * 10 + [10.0] * 10 + [5.0] * 10  # 0 -> 5 -> 10 -> 5 -> 0 ...
    xs = period * 40
    d = WindowNovelty(grace_period=400)
    scores = run(d, xs[:1205])  # 1200..1204 are 0: the next value should be 0 too
    assert max(scores) == 0.0
    why = d.explain(10.0)  # 0 -> 10 directly, inside the range
    fast = why["scales"][0]
    assert not why["new_extreme"] and fast["new"] and fast["distance"] > why["vigilance"] >= d.vigilance
    assert 3 in fast["new_segments"]  # the 3 values before it were 0, never before a 10
    assert fast["shape"][0] == pytest.approx(1.0) and fast["shape"][1] == pytest.approx(0.0)
    assert d.score_one(10.0) == 1.0
    assert d.score_one(0.0) == 0.0


def test_window_alarm_scores_fall_for_a_stream_that_keeps_surprising() -> None:
    d = WindowNovelty(grace_period=500, rest=1, recall=10_000)  # the slow scale sees a whole cycle
    assert max(run(d, smooth(11, 1200))) == 0.0
    alarms = []
    for k in range(1, 6):  # new levels, each far from the last
        x = 100.0 * k
        alarms.append(d.score_one(x))
        d.learn_one(x)
        run(d, [x] * 60)  # until the new level is familiar and the rest over
    assert alarms[0] == 1.0
    assert alarms == sorted(alarms, reverse=True) and alarms[-1] < alarms[0]
    assert all(a > 0.5 for a in alarms)


def test_window_memory_is_bounded() -> None:
    walk = [float(i) for i in range(3000)]  # every shape new
    d = WindowNovelty(grace_period=100, memory=50)
    run(d, walk)
    assert [len(m.shapes) for m in d.memories] == [len(m.used) for m in d.memories] == [50, 50]
    e = WindowNovelty.from_state(json.loads(json.dumps(d.state())))
    assert run(e, walk[:100]) == run(d, walk[:100])


def test_window_ignores_non_finite_values() -> None:
    d = WindowNovelty(grace_period=50)
    run(d, clean(10, 100))
    before = d.state()
    assert d.score_one(float("nan")) == 0.0 and d.score_one(float("inf")) == 0.0
    d.learn_one(float("nan"))
    assert d.state() == before


@pytest.mark.parametrize(
    "kw",
    [
        {"scales": ()},
        {"scales": ((),)},
        {"scales": ((1, 3), (1, 0))},
        {"vigilance": 0.0},
        {"widen": -0.5},
        {"grace_period": 1},
    ],
)
def test_window_refuses_meaningless_settings(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        WindowNovelty(**kw)
