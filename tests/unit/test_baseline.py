from __future__ import annotations

import math
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


def test_the_mix_model_flags_and_explains() -> None:
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
    m = MultivariateModel()
    assert m.check(rows[0]) is None  # untrained: no opinion
    assert m.fit(rows, T0)
    normal = sum(m.check(row) is not None for row in rows[:100])
    assert normal <= 5
    odd = m.check({"pm10": 31, "pm25": 15, "o3": 0.03, "no2": 0.09, "co": 2.5, "so2": None})
    assert odd is not None
    assert list(odd.features)[:2] == ["co", "no2"] or list(odd.features)[:2] == ["no2", "co"]
    assert "pm10" not in odd.features


def test_the_mix_model_catches_an_unusual_combination_within_the_ranges() -> None:
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
    m = MultivariateModel()
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
    m = MultivariateModel()
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
        m = MultivariateModel()
        assert m.fit(rows, T0)
        u = m.check(rows[0])
    assert u is None or "so2" not in u.features


def _assessed(unusual: bool, score: float = 0.05, **z: float):  # type: ignore[no-untyped-def]
    """A station-hour as :meth:`MultivariateModel.assess_many` gives it: the z of each measured pollutant,
    those 3 σ out named when unusual."""
    from analytics.airquality.baseline import Assessment

    return Assessment(score, {k: v for k, v in z.items() if abs(v) >= 3} if unusual else {}, unusual, z)


@pytest.mark.parametrize(
    ("own", "peers", "shared"),
    [
        # a winter haze: every station's particulates far above its own usual at once
        (
            {"pm25": 9.0, "pm10": 7.0},
            [{"pm25": 6.0, "pm10": 5.0}, {"pm25": 11.0, "pm10": 8.0}, {"pm25": 2.0, "pm10": 4.0}],
            True,
        ),
        # peers moved the same way, a third of the station's distance and under 3 σ: its own
        ({"pm25": 9.0}, [{"pm25": 2.9}, {"pm25": 2.5}, {"pm25": 3.5}], False),
        # ... half its distance: the air (a station nearer the source)
        ({"pm25": 9.0}, [{"pm25": 4.5}, {"pm25": 5.0}, {"pm25": 1.0}], True),
        # CO at the ceiling while the peers' CO is usual: the analyser
        ({"co": 40.0, "pm25": 6.0}, [{"co": 0.3, "pm25": 5.0}, {"co": -0.2, "pm25": 7.0}], False),
        # the station far below while its peers' haze rises: its own
        ({"pm25": -5.0}, [{"pm25": 4.0}, {"pm25": 6.0}], False),
        # ... a little below while the haze holds: a local shower, the air
        ({"pm25": -3.0}, [{"pm25": 2.5}, {"pm25": 3.0}], True),
        # in a haze, each station its own distance from its own usual: the air unless 6 σ apart
        (
            {"pm25": 8.8, "pm10": 8.8},
            [{"pm25": 2.9, "pm10": 2.2}, {"pm25": 2.9, "pm10": 2.9}, {"pm25": 11.7, "pm10": 9.8}],
            True,
        ),
        # ... CO 12 σ in it, the peers' CO under 3: its own
        ({"co": 12.0}, [{"co": 4.5, "pm25": 2.5}, {"co": 0.6, "pm25": 2.2}, {"co": 2.8, "pm25": 3.0}], False),
        # one peer is not a zone
        ({"pm25": 9.0}, [{"pm25": 9.0}], False),
        # a pollutant the peers do not measure cannot be shared
        ({"so2": 8.0}, [{"pm25": 9.0}, {"pm25": 9.0}], False),
    ],
)
def test_an_unusual_mix_the_peers_share_is_the_zone_s_air(
    own: dict[str, float], peers: list[dict[str, float]], shared: bool
) -> None:
    from analytics.airquality.baseline import shared_with_peers

    got = shared_with_peers(
        _assessed(True, -0.05, **own), [_assessed(max(map(abs, p.values())) >= 3, **p) for p in peers]
    )
    assert got is shared


def test_a_mix_only_its_combination_makes_odd_is_the_air_unless_a_pollutant_stands_apart() -> None:
    """No pollutant 3 σ out, yet an odd mix: the air's when half the peers are odd too, or when each of its
    pollutants is within 3 σ of the peers' median (6 σ in a shared episode); its own when one stands apart
    (NO2 up where the peers' fell: a combination the peers do not share)."""
    from analytics.airquality.baseline import shared_with_peers

    own = _assessed(True, -0.02, pm25=2.5, no2=2.0)
    odd, usual = _assessed(True, -0.01, pm25=2.0, no2=1.5), _assessed(False, pm25=1.0, no2=1.0)
    assert shared_with_peers(own, [odd, usual, odd])  # half the peers odd
    assert shared_with_peers(own, [odd, usual, usual])  # one odd, but nothing stands apart
    apart = _assessed(False, pm25=1.5, no2=-1.5)
    assert not shared_with_peers(own, [odd, apart, apart])  # NO2 +2 against the peers' -1.5
    hazy = _assessed(False, pm25=2.5, no2=-1.5)  # the peers' particulates 2 σ up and more: a shared episode
    assert shared_with_peers(own, [odd, hazy, hazy])  # NO2 3.5 σ apart: the haze's chemistry
    far = _assessed(True, -0.3, pm25=2.5, no2=2.9)
    fell = _assessed(False, pm25=2.5, no2=-4.0)
    assert not shared_with_peers(far, [odd, fell, fell])  # NO2 6.9 σ apart from the peers' median


def test_a_haze_of_days_is_still_a_shared_episode_at_the_national_very_unhealthy_level() -> None:
    """Days into a haze, the 14-day usual has learned it: the peers' particulates are under 2 σ over their
    usual, yet their 24-hour PM2.5 is at 매우나쁨 (76 µg/m³ and more). A mix odd only by its combination is
    the air's there unless a pollutant stands 6 σ apart; at 나쁨 (75) it is judged as on any day."""
    from analytics.airquality.baseline import Assessment, shared_with_peers

    def peer(pm25: float) -> Assessment:
        return Assessment(0.1, {}, False, {"pm25": 1.0, "no2": -1.5}, {}, {"pm25": pm25, "no2": 0.03})

    own = _assessed(True, -0.02, pm25=2.5, no2=2.0)  # NO2 3.5 σ apart from the peers' median
    assert shared_with_peers(own, [peer(160.0), peer(140.0), peer(76.0)])  # the peers' median 140: 매우나쁨
    assert not shared_with_peers(own, [peer(75.0), peer(75.0), peer(160.0)])  # their median 75: 나쁨
    far = _assessed(True, -0.3, pm25=2.5, no2=5.0)  # 6.5 σ apart: its own even in the haze
    assert not shared_with_peers(far, [peer(160.0), peer(140.0), peer(90.0)])


def test_an_assessment_names_every_measured_pollutant_of_a_usual_hour() -> None:
    """What the peers' hours are compared with: a usual hour's z of each pollutant the station measures
    (none it does not), and an unusual hour's pollutants at 3 σ or more, as :meth:`check` names them."""
    r = random.Random(3)
    rows = [
        {"pm10": 30 + r.gauss(0, 4), "pm25": 15 + r.gauss(0, 3), "o3": None, "no2": 0.02 + r.gauss(0, 0.003),
         "co": 0.4 + r.gauss(0, 0.05), "so2": None}
        for _ in range(336)
    ]  # fmt: skip
    m = MultivariateModel()
    assert m.fit(rows, T0)
    usual, haze = m.assess_many([rows[5], {**rows[5], "pm25": 150.0, "pm10": 220.0}])
    assert not usual.unusual and usual.features == {} and set(usual.every) == {"pm10", "pm25", "no2", "co"}
    assert (
        haze.unusual
        and set(haze.features) >= {"pm25", "pm10"}
        and all(abs(z) >= 3 for z in haze.features.values())
    )
    assert m.check(rows[5]) is None and m.check({**rows[5], "pm25": 150.0, "pm10": 220.0}) is not None


def test_the_mix_model_learns_again_by_new_data_not_by_the_clock() -> None:
    """Trained on two weeks of hours, it is due again once a quarter of that is new (84 hours judged), not
    daily; and at once for an hour beyond the two weeks it learned from (a station back after weeks)."""
    r = random.Random(4)
    rows = [{"pm10": 30 + r.gauss(0, 4), "pm25": 15 + r.gauss(0, 3)} for _ in range(336)]
    m = MultivariateModel()
    assert m.due(T0) and m.fit(rows, T0)  # type: ignore[arg-type]
    m.assess_many(rows[:50])  # type: ignore[arg-type]
    assert not m.due(T0 + timedelta(days=3))  # three days on, 50 hours new: not yet
    assert not m.due(T0 + timedelta(days=3), waiting=33) and m.due(T0 + timedelta(days=3), waiting=34)
    assert m.due(T0 + timedelta(days=14))  # beyond its window, however little is new
    m.fit(rows[:72], T0)  # type: ignore[arg-type]  # early on, a station's first 72 hours: again after 18
    m.assess_many(rows[:17])  # type: ignore[arg-type]
    assert not m.due(T0 + timedelta(hours=17)) and m.due(T0 + timedelta(hours=17), waiting=1)


def test_in_a_haze_a_station_is_judged_by_how_many_times_its_usual_it_reads_not_by_sigma() -> None:
    """A clean background site's CO reads 10 σ in a haze where its roadside peers' read 2-3 σ: each reads
    about six times its usual, so the haze is the air's. Six times the peers' rise would be its own."""
    from analytics.airquality.baseline import Assessment, shared_with_peers

    def hour(unusual: bool, co_z: float, co_times: float, pm25_z: float) -> Assessment:
        z = {"co": co_z, "pm25": pm25_z}
        named = {k: v for k, v in z.items() if abs(v) >= 3} if unusual else {}
        return Assessment(
            -0.1 if unusual else 0.1, named, unusual, z, {"co": math.log(co_times), "pm25": 1.5}
        )

    peers = [hour(True, 2.5, 6.0, 4.0), hour(True, 3.0, 5.0, 5.0), hour(False, 2.0, 6.5, 3.0)]
    assert shared_with_peers(hour(True, 10.0, 6.0, 4.5), peers)
    assert not shared_with_peers(hour(True, 10.0, 36.0, 4.5), peers)
