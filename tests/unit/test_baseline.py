from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from analytics.airquality.baseline import MultivariateModel, SeasonalBaseline, slot

T0 = datetime(2026, 3, 2, 0, tzinfo=UTC)  # a Monday, 09:00 in Seoul


def test_slots_are_local_hour_and_day_type() -> None:
    assert slot(T0) == "wd09"
    assert slot(T0 + timedelta(days=5)) == "we09"  # Saturday


def test_seasonal_baseline_learns_the_daily_cycle() -> None:
    r = random.Random(1)
    b = SeasonalBaseline()
    for d in range(21):
        for h in range(24):
            t = T0 + timedelta(days=d, hours=h)
            rush = 40.0 if (t + timedelta(hours=9)).hour in (8, 19) else 15.0
            b.learn(t, rush + r.gauss(0, 2))
    morning = T0 + timedelta(days=21, hours=23)  # 08:00 KST
    night = T0 + timedelta(days=22, hours=18)  # 03:00 KST
    assert abs(b.score(morning, 41.0) or 99) < 2  # a rush-hour level at rush hour is normal
    assert (b.score(night, 41.0) or 0) > 6  # the same level at 3 am is not
    restored = SeasonalBaseline.from_state(b.state())
    assert restored.score(night, 41.0) == b.score(night, 41.0)


def test_isolation_forest_flags_and_explains() -> None:
    r = random.Random(2)
    rows = [
        {
            "pm10": 30 + r.gauss(0, 3),
            "pm25": 15 + r.gauss(0, 2),
            "o3": 0.03 + r.gauss(0, 0.003),
            "no2": 0.02 + r.gauss(0, 0.002),
            "co": 0.5 + r.gauss(0, 0.05),
            "so2": 0.003,
        }
        for _ in range(500)
    ]
    m = MultivariateModel(seed=3)
    assert m.check(rows[0]) is None  # untrained: no opinion
    assert m.fit(rows, T0)
    normal = sum(m.check(row) is not None for row in rows[:100])
    assert normal <= 5
    odd = m.check({"pm10": 31, "pm25": 15, "o3": 0.03, "no2": 0.09, "co": 2.5, "so2": None})
    assert odd is not None
    assert list(odd.features)[:2] == ["co", "no2"] or list(odd.features)[:2] == ["no2", "co"]
    assert "pm10" not in odd.features


def test_isolation_forest_catches_an_unusual_combination_within_the_ranges() -> None:
    r = random.Random(4)
    rows = []
    for _ in range(800):  # traffic: NO2 and CO rise and fall together
        traffic = r.uniform(0, 1)
        rows.append(
            {
                "pm10": 30.0,
                "pm25": 15.0,
                "o3": 0.03,
                "no2": 0.01 + 0.04 * traffic + r.gauss(0, 0.002),
                "co": 0.3 + 1.0 * traffic + r.gauss(0, 0.05),
                "so2": 0.003,
            }
        )
    m = MultivariateModel(seed=5)
    m.fit(rows, T0)
    # each value is ordinary on its own, the pair is not: high NO2 with low CO
    odd = m.check({"pm10": 30.0, "pm25": 15.0, "o3": 0.03, "no2": 0.048, "co": 0.32, "so2": 0.003})
    assert odd is not None and odd.score < 0


@pytest.mark.parametrize(
    ("unusual", "evaluated", "shared"),
    [(3, 4, True), (3, 6, True), (3, 7, False), (2, 2, False), (5, 12, False), (6, 12, True)],
)
def test_a_mix_is_the_zone_s_when_most_of_at_least_three_stations_share_it(
    unusual: int, evaluated: int, shared: bool
) -> None:
    from analytics.airquality.baseline import Unusual
    from analytics.rules import multivariate_zone_event, shared_mix

    got = {f"aq-{i}": Unusual(-0.1 - i / 100, {"pm25": 9.0, "no2": 4.0}) for i in range(unusual)}
    assert shared_mix(got, evaluated) is shared
    ev = multivariate_zone_event("jangan", got, evaluated, datetime(2026, 12, 3, tzinfo=UTC))
    assert ev.subject == "zone:jangan" and ev.title.endswith(f"{unusual} of {evaluated} stations")
    assert f"most named: no2 ({unusual}), pm25 ({unusual})" in ev.explanation.message


def test_a_quantised_steady_pollutant_moving_one_step_is_not_an_impossible_sigma() -> None:
    """Real stations report CO in steps of 0.1 ppm: two weeks at 0.4, then 0.5, is one step, not 100 σ."""
    r = random.Random(7)
    rows = [
        {"pm10": 30 + r.gauss(0, 4), "pm25": 15 + r.gauss(0, 3), "o3": 0.03 + r.gauss(0, 0.004),
         "no2": 0.02 + r.gauss(0, 0.003), "co": 0.4, "so2": 0.003}
        for _ in range(336)
    ]  # fmt: skip
    m = MultivariateModel(seed=1)
    assert m.fit(rows, T0)
    stepped = m.check({**rows[0], "co": 0.5})
    assert stepped is None or all(abs(z) < 10 for z in stepped.features.values()), stepped
    # a real excursion is still named, at a believable distance
    far = m.check({**rows[0], "co": 3.0})
    assert far is not None and 10 < far.features["co"] < 30, far


def test_a_pollutant_the_station_does_not_measure_raises_no_warning() -> None:
    import warnings

    r = random.Random(8)
    rows = [
        {
            "pm10": 30 + r.gauss(0, 4),
            "pm25": 15 + r.gauss(0, 3),
            "o3": 0.03,
            "no2": 0.02,
            "co": 0.4,
            "so2": None,
        }
        for _ in range(100)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "All-NaN slice" among them
        m = MultivariateModel(seed=1)
        assert m.fit(rows, T0)
        u = m.check(rows[0])
    assert u is None or "so2" not in u.features
