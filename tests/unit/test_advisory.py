"""Advisory issue / level change / lift sequences, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.airquality.advisory import RULES, Level, State, advance

T0 = datetime(2026, 3, 1, 0, tzinfo=UTC)


def run(pollutant: str, values: list[float | None]) -> list[tuple[int, str, Level]]:
    state = State()
    out = []
    for h, v in enumerate(values):
        state, events = advance(RULES[pollutant], state, T0 + timedelta(hours=h), v)
        out += [(h, e.kind, e.level) for e in events if e.kind != "peaked"]
    return out


A, W, G, N = Level.ADVISORY, Level.WARNING, Level.GRAVE, Level.NONE
CASES = [
    ("pm25 one hour is not enough", "pm25", [80, 40], []),
    ("pm25 two hours issue", "pm25", [80, 76, 60], [(1, "issued", A)]),
    ("pm25 stays until below 35", "pm25", [80, 76, 60, 40, 35, 34.9], [(1, "issued", A), (5, "lifted", N)]),
    ("pm25 exactly 75 counts", "pm25", [75, 75], [(1, "issued", A)]),
    ("pm25 interrupted streak", "pm25", [80, 70, 80, 70], []),
    ("pm25 missing hour holds streak", "pm25", [80, None, 80], [(2, "issued", A)]),
    (
        "pm25 warning",
        "pm25",
        [160, 155, 100, 74, 30],
        [(1, "issued", W), (3, "lowered", A), (4, "lifted", N)],
    ),
    ("pm25 advisory then warning", "pm25", [80, 80, 150, 151, 90], [(1, "issued", A), (3, "raised", W)]),
    ("pm25 warning straight to lifted", "pm25", [200, 200, 20], [(1, "issued", W), (2, "lifted", N)]),
    ("pm10 advisory", "pm10", [150, 160, 120, 99], [(1, "issued", A), (3, "lifted", N)]),
    (
        "pm10 warning",
        "pm10",
        [300, 310, 200, 149, 99],
        [(1, "issued", W), (3, "lowered", A), (4, "lifted", N)],
    ),
    ("o3 immediate", "o3", [0.12, 0.11], [(0, "issued", A), (1, "lifted", N)]),
    (
        "o3 up and down",
        "o3",
        [0.13, 0.31, 0.51, 0.4, 0.2, 0.1],
        [
            (0, "issued", A),
            (1, "raised", W),
            (2, "raised", G),
            (3, "lowered", W),
            (4, "lowered", A),
            (5, "lifted", N),
        ],
    ),
    ("o3 straight to grave", "o3", [0.55, 0.05], [(0, "issued", G), (3 - 2, "lifted", N)]),
]


@pytest.mark.parametrize(
    ("pollutant", "values", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_sequences(
    pollutant: str, values: list[float | None], expected: list[tuple[int, str, Level]]
) -> None:
    assert run(pollutant, values) == expected


def test_episode_remembers_start_and_peak() -> None:
    state = State()
    for h, v in enumerate([80, 90, 160, 170, 120]):
        state, _ = advance(RULES["pm25"], state, T0 + timedelta(hours=h), v)
    assert state.level == Level.WARNING
    assert state.since == T0 + timedelta(hours=1)
    assert state.peak == 170


def test_each_new_high_of_an_episode_is_reported_so_its_alert_keeps_the_true_peak() -> None:
    state, peaks = State(), []
    for h, v in enumerate([80, 90, 160, 170, 120, 165, 30, 200]):
        state, events = advance(RULES["pm25"], state, T0 + timedelta(hours=h), v)
        peaks += [(h, e.value) for e in events if e.kind == "peaked"]
    # issued at 90 (hour 1); raised to 경보 at 170 (hour 3, a level change carries its value); new highs
    # within a level are "peaked"; after the lift (hour 6) a new episode's values start afresh
    assert peaks == [(2, 160)]
    assert state.level == Level.NONE and state.peak == 0.0
