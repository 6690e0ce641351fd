from __future__ import annotations

import itertools

import pytest

from analytics.airquality.cai import Grade, cai, grade, sub_index

CASES = [
    ("o3-vector", "o3", 0.0785, 90),
    ("co-vector", "co", 5.0, 72),
    ("zero", "pm25", 0.0, 0),
    ("pm25-good-top", "pm25", 15.9, 50),  # truncated to 15 -> top of good
    ("pm25-moderate-bottom", "pm25", 16.0, 51),
    ("pm25-moderate-top", "pm25", 35.0, 100),
    ("pm25-unhealthy-bottom", "pm25", 36.0, 101),
    ("pm25-very-bottom", "pm25", 76.0, 251),
    ("pm25-top", "pm25", 500.0, 500),
    ("pm25-above-top", "pm25", 900.0, 500),
    ("pm10-80", "pm10", 80.0, 100),
    ("pm10-81", "pm10", 81.0, 101),
    ("so2-0.02", "so2", 0.020, 50),
    ("so2-truncation", "so2", 0.0209, 50),
    ("no2-0.061", "no2", 0.061, 101),
    ("co-2.009", "co", 2.009, 50),
    ("co-2.01", "co", 2.01, 51),
    ("o3-0.6", "o3", 0.6, 500),
]


@pytest.mark.parametrize(("pollutant", "conc", "index"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_sub_index(pollutant: str, conc: float, index: int) -> None:
    assert sub_index(pollutant, conc) == index


@pytest.mark.parametrize("bad", [None, -1.0, float("nan"), float("inf")])
def test_sub_index_of_invalid_input_is_none(bad: float | None) -> None:
    assert sub_index("pm10", bad) is None


@pytest.mark.parametrize(
    ("index", "g"),
    [
        (0, Grade.GOOD),
        (50, Grade.GOOD),
        (51, Grade.MODERATE),
        (100, Grade.MODERATE),
        (101, Grade.UNHEALTHY),
        (250, Grade.UNHEALTHY),
        (251, Grade.VERY_UNHEALTHY),
        (500, Grade.VERY_UNHEALTHY),
    ],
)
def test_grade(index: int, g: Grade) -> None:
    assert grade(index) is g


def test_cai_is_the_largest_sub_index() -> None:
    c = cai({"pm10": 40, "pm25": 20, "o3": 0.0785, "co": 5.0, "no2": None, "so2": 0.003})
    assert c is not None
    assert (c.value, c.dominant, c.grade) == (90, "o3", Grade.MODERATE)
    assert "no2" not in c.sub_indices
    assert cai({"pm10": None}) is None


def test_monotonic_in_concentration() -> None:
    values = [sub_index("pm25", x / 10) for x in range(0, 6000)]
    assert all(a is not None and b is not None and a <= b for a, b in itertools.pairwise(values))
