"""A re-evaluation's progress counts the rows of every stream it runs: 100 % only when the last one is done."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from analytics.progress import Backfill, counter

T = datetime(2026, 3, 1, tzinfo=UTC)


def test_progress_is_by_rows_over_every_stream_and_ends_with_the_last() -> None:
    shown: list[tuple[str, float]] = []
    b = Backfill({"air_quality": 100, "parking": 300}, lambda text, done: shown.append((text, done)))
    b.report("air_quality", T, 100, last=True)
    assert shown[-1] == (
        "air quality: up to 2026-03-01 00:00 (100 of 100)",
        0.25,
    )  # not 100 %: parking is to come
    tick = counter(b, "parking", every=100)
    for i in range(1, 301):
        tick(T, i, False)
    tick(T, 300, True)
    assert [d for _t, d in shown] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert shown[-1][0] == "parking events: up to 2026-03-01 00:00 (300 of 300)"


def test_a_stream_with_fewer_rows_than_counted_still_ends_at_100() -> None:
    b = Backfill({"cctv": 10})
    b.report("cctv", T, 7, last=True)  # rows outside the partition, say
    assert b.fraction == 1.0 and Backfill({}).fraction == 1.0


def test_without_a_bar_the_log_says_it_at_most_every_few_seconds(caplog: pytest.LogCaptureFixture) -> None:
    b = Backfill({"parking": 10_000}, every_s=3600)
    with caplog.at_level(logging.INFO, logger="citywatch.analytics"):
        for i in range(1, 10_001):
            b.report("parking", T, i, last=i == 10_000)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "re-evaluating:   0%, parking events: up to 2026-03-01 00:00 (1 of 10,000)",
        "re-evaluating: 100%, parking events: up to 2026-03-01 00:00 (10,000 of 10,000)",
    ]


def test_a_live_step_tells_nobody() -> None:
    counter(None, "cctv")(T, 2000, True)  # no backfill: nothing to report to, and no error
