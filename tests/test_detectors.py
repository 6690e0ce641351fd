"""One contract for every detector, then each detector on its own fault."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest

from analytics.detectors import Cusum, Detector, Flatline, Novelty, Spike

FACTORIES: dict[str, Callable[[], Detector]] = {
    "flatline": lambda: Flatline(min_run=10),
    "spike": lambda: Spike(),
    "cusum": lambda: Cusum(grace_period=100),
    "novelty": lambda: Novelty(window=300, history=3000),
}
THRESHOLD = {"flatline": 1.0, "spike": 8.0, "cusum": 1.0, "novelty": 0.9996}


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


@pytest.mark.parametrize("name", FACTORIES)
def test_quiet_on_clean_data(name: str) -> None:
    for seed in range(5):
        scores = run(FACTORIES[name](), clean(seed))
        assert max(scores) < THRESHOLD[name], (seed, max(scores))


@pytest.mark.parametrize("name", FACTORIES)
def test_silent_during_grace_period(name: str) -> None:
    d = FACTORIES[name]()
    scores = run(d, clean(3)[: d.grace_period])
    assert all(s == 0.0 for s in scores) or name == "flatline"


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


def test_cusum_fires_on_slow_drift_not_on_noise() -> None:
    xs = clean(8, 600)
    drifted = [x + 0.05 * max(0, i - 300) for i, x in enumerate(xs)]  # +0.05 per reading after 300
    scores = run(Cusum(grace_period=100), drifted)
    first = next(i for i, s in enumerate(scores) if s >= 1.0)
    assert 300 < first < 500


def test_novelty_fires_on_spikes_and_level_shifts() -> None:
    xs = clean(9, 3000)
    xs[2000] = 200.0
    shifted = xs[:2500] + [x + 40 for x in xs[2500:]]
    scores = run(Novelty(window=300, history=3000), shifted)
    assert scores[2000] >= 0.999  # the largest surprise it has seen
    assert max(scores[2500:2510]) >= 0.998  # the shift: rarer than all but the spike
    clean_alarms = [i for i, s in enumerate(scores[:2000]) if s >= 0.998]
    assert len(clean_alarms) <= 3
