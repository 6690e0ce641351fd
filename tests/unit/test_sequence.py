"""Sequence accounting on what real devices send: loss, late arrivals, reboots to 0 or 1, and counters
that jump (one corrupt message, or a re-initialised counter) — none of which is loss."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.sequence import SeqState, advance, plausible_skip

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def at(i: float, every: float = 60) -> datetime:
    return T0 + timedelta(seconds=i * every)


def run(seqs: list[int], every: float = 60, interval: float | None = 60) -> SeqState:
    """``seqs`` sent ``every`` seconds apart, arriving in that order."""
    state = advance(None, [(s, at(i, every)) for i, s in enumerate(seqs)], interval)
    assert state is not None
    return state


def counts(s: SeqState) -> tuple[int, int, int, int]:
    return s.received, s.gaps, s.resets, s.jumps


CASES = [
    ("in order", [5, 6, 7, 8], (4, 0, 0, 0)),
    ("lost on the way", [5, 9], (2, 3, 0, 0)),
    ("reboot to 0", [7, 8, 9, 0, 1], (5, 0, 1, 0)),
    ("reboot to 1", [7, 8, 9, 1, 2], (5, 0, 1, 0)),
    ("reboot after a plausible gap", [7, 8, 9, 0], (4, 0, 1, 0)),
    ("the stop panel's 900001, then 0", [0, 1, 2, 3, 4, 5, 900001, 0, 1, 2], (10, 0, 1, 1)),
    ("one corrupt number, then on from before it", [0, 1, 2, 3, 900001, 4, 5], (7, 0, 0, 1)),
    ("a corrupt number, and one lost after it", [0, 1, 2, 3, 900001, 5, 6], (7, 1, 0, 1)),
    ("a re-initialised counter goes on from its new number", [0, 1, 2, 70000, 70001, 70002], (6, 0, 0, 1)),
]


@pytest.mark.parametrize(("seqs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_real_device_sequences(seqs: list[int], expected: tuple[int, int, int, int]) -> None:
    assert counts(run(seqs)) == expected


def test_a_late_arrival_older_by_the_devices_clock_fills_its_hole() -> None:
    state = advance(None, [(1, at(1)), (4, at(4)), (2, at(2)), (3, at(3))], 60)
    assert state is not None and counts(state) == (4, 0, 0, 0) and state.max_seq == 4


def test_a_days_silence_is_loss_not_a_jump_and_a_bigger_skip_than_time_allows_is_a_jump() -> None:
    # a minute device cut off for a day: 1,439 numbers in 24 h is what it sent, and they were lost
    day = advance(SeqState(10, 10, 11, max_time=at(0)), [(1450, at(1440))], 60)
    assert day is not None and counts(day) == (12, 1439, 0, 0)
    # the same skip after one minute cannot have been sent
    minute = advance(SeqState(10, 10, 11, max_time=at(0)), [(1450, at(1))], 60)
    assert minute is not None and counts(minute) == (12, 0, 0, 1)


def test_an_event_driven_device_may_send_one_a_second() -> None:
    assert plausible_skip(60, None) == plausible_skip(60, 0) == 2 * 60 + 100
    busy = advance(SeqState(0, 0, 1, max_time=T0), [(150, T0 + timedelta(seconds=60))], None)
    assert busy is not None and counts(busy) == (2, 149, 0, 0)


def test_state_without_a_time_counts_as_before() -> None:
    state = advance(SeqState(5, 5, 1), [(6, T0), (9, T0)], 60)
    assert state is not None and counts(state) == (3, 2, 0, 0)


def test_nothing_new_changes_nothing() -> None:
    s = SeqState(3, 3, 1, max_time=T0)
    assert advance(s, [], 60) == s and advance(None, [], 60) is None


def test_over_lossy_and_reordered_deliveries_the_gaps_are_exactly_what_never_arrived() -> None:
    """A minute device sends 0..n-1; some never arrive and some arrive late (after newer ones, with their own
    older time). Whatever the pattern, the gaps are the numbers between the first and the highest that never
    arrived; and nothing is a reset or a jump."""
    took = Counter[str]()

    @settings(max_examples=300, derandomize=True, deadline=None)
    @given(st.integers(2, 200), st.floats(0, 0.6), st.floats(0, 0.5), st.integers(0, 2**32 - 1))
    def check(n: int, loss: float, late: float, seed: int) -> None:
        r = random.Random(seed)
        sent = [(s, at(s)) for s in range(n)]
        arrived = [sent[0]] + [m for m in sent[1:] if r.random() >= loss]
        order = arrived[:1]
        held: list[tuple[int, datetime]] = []
        for m in arrived[1:]:
            (held if r.random() < late else order).append(m)
            if held and r.random() < 0.3:
                order.append(held.pop(0))
        order += held
        state = advance(None, order, 60)
        assert state is not None
        top = max(s for s, _ in order)
        assert counts(state) == (len(order), top + 1 - len(order), 0, 0)
        took["lost"] += len(order) < top + 1
        took["late"] += any(a[0] > b[0] for a, b in pairwise(order))

    check()
    assert took["lost"] >= 100 and took["late"] >= 100, took
