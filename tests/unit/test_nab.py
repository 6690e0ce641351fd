"""The NAB scorer reproduces the published Numenta HTM result (golden fixture),
and scores hand-made cases as NAB defines them."""

from __future__ import annotations

import json

import pytest

from tests.support import SHARED_DATA, needs_data
from tools.nab import PROFILES, Series, load_corpus, points, published_scores, score_at, sweep

NAB = SHARED_DATA / "NAB"


@needs_data(NAB, "the NAB corpus")
def test_reproduces_the_published_numenta_scores() -> None:
    corpus = load_corpus(NAB)
    assert len(corpus) == 58 and sum(len(s.windows) for s in corpus) == 116
    pts, n = points(corpus, published_scores(NAB, "numenta", corpus))
    thresholds = json.loads((NAB / "config" / "thresholds.json").read_text())["numenta"]
    published = json.loads((NAB / "results" / "final_results.json").read_text())["numenta"]
    for profile in PROFILES:
        assert score_at(pts, n, thresholds[profile]["threshold"], profile) == pytest.approx(
            published[profile], abs=1e-6
        )


def series(n: int = 1000, windows: list[tuple[int, int]] | None = None) -> Series:
    return Series("s", [str(i) for i in range(n)], [0.0] * n, windows or [(500, 599)])


def test_perfect_null_and_early_beats_late() -> None:
    s = series()
    perfect = [1.0 if i == 500 else 0.0 for i in range(1000)]
    late = [1.0 if i == 590 else 0.0 for i in range(1000)]
    pts, n = points([s], [perfect])
    assert score_at(pts, n, 0.5, "standard") == pytest.approx(100.0)
    assert score_at(pts, n, 2.0, "standard") == pytest.approx(0.0)  # nothing detected: the null score
    pts_late, _ = points([s], [late])
    assert 0 < score_at(pts_late, n, 0.5, "standard") < 100


def test_false_positives_cost_and_probation_is_free() -> None:
    s = series()
    fp_before = [1.0 if i in (200, 500) else 0.0 for i in range(1000)]
    in_probation = [
        1.0 if i in (10, 500) else 0.0 for i in range(1000)
    ]  # 15 % of 1000 = 150 rows of probation
    a, n = points([s], [fp_before])
    b, _ = points([s], [in_probation])
    assert score_at(a, n, 0.5, "standard") == pytest.approx(100 * (1 - 0.11) / 2 + 50)
    assert score_at(b, n, 0.5, "standard") == pytest.approx(100.0)


def test_sweep_finds_the_best_threshold() -> None:
    s = series()
    scores = [0.9 if i == 500 else 0.3 if i % 50 == 0 else 0.0 for i in range(1000)]
    pts, n = points([s], [scores])
    best, threshold = sweep(pts, n, "standard")
    assert threshold == 0.9 and best == pytest.approx(100.0)
