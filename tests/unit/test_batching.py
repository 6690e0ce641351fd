from __future__ import annotations

from datetime import UTC, datetime

import pytest

from citywatch.contracts.topics import Stream
from ingest.batching import FlushPolicy, group
from ingest.decode import Accepted, Reason, Rejected
from ingest.rows import STATUS
from ingest.sequence import SeqState, advance


@pytest.mark.parametrize(
    ("n", "age", "due"),
    [
        (0, 0.0, False),
        (0, 9.9, False),
        (1, 0.0, False),
        (1, 0.2, True),
        (99, 0.19, False),
        (100, 0.0, True),
        (150, 0.0, True),
    ],
    ids=["empty", "empty-old", "fresh", "old-enough", "almost", "full", "over-full"],
)
def test_flush_policy(n: int, age: float, due: bool) -> None:
    assert FlushPolicy(max_rows=100, max_wait_s=0.2).due(n, age) is due


def test_wait_for_never_negative() -> None:
    p = FlushPolicy(max_rows=100, max_wait_s=0.2)
    assert p.wait_for(0, 0) == 0.2
    assert p.wait_for(5, 0.05) == pytest.approx(0.15)
    assert p.wait_for(5, 1.0) == 0.0


def _status(device: str, minute: int) -> Accepted:
    t = datetime(2026, 1, 1, 0, minute, tzinfo=UTC)
    return Accepted(STATUS, (t, device, "online", None, t), device, Stream.STATUS, None, t)


def test_group_splits_and_deduplicates_in_order() -> None:
    a, b = _status("d1", 1), _status("d2", 2)
    bad = Rejected(Reason.MALFORMED_JSON, "x")
    g = group([(a, b"t", b"1"), (bad, b"t", b"x"), (a, b"t", b"1"), (b, b"t", b"2"), (bad, b"t", b"x")])
    assert [x.device_id for x in g.accepted] == ["d1", "d2"]
    assert len(g.rows["device_status"][1]) == 2
    assert len(g.rejected) == 1
    assert g.in_batch_duplicates == 2


SEQ_CASES = [
    ("first", None, [5], SeqState(5, 5, 1, 0, 0)),
    ("in-order", SeqState(5, 5, 1), [6, 7, 8], SeqState(8, 8, 4, 0, 0)),
    ("gap", SeqState(5, 5, 1), [9], SeqState(9, 9, 2, 3, 0)),
    ("late-fills-gap", SeqState(9, 9, 2, 3), [7], SeqState(7, 9, 3, 2, 0)),
    ("reboot", SeqState(9, 9, 2, 0), [0, 1], SeqState(1, 1, 4, 0, 1)),
    ("gap-then-late", None, [1, 4, 2, 3], SeqState(3, 4, 4, 0, 0)),
    ("nothing", SeqState(3, 3, 1), [], SeqState(3, 3, 1)),
]


@pytest.mark.parametrize(
    ("before", "seqs", "after"), [c[1:] for c in SEQ_CASES], ids=[c[0] for c in SEQ_CASES]
)
def test_sequence_accounting(before: SeqState | None, seqs: list[int], after: SeqState) -> None:
    assert advance(before, seqs) == after


def _reference(state: SeqState | None, seqs: list[int]) -> SeqState | None:
    """The accounting rules written out one message at a time (what ``advance`` must equal)."""
    from dataclasses import replace

    for s in seqs:
        if state is None:
            state = SeqState(last_seq=s, max_seq=s, received=1)
        elif s == 0 and state.max_seq > 0:
            state = replace(
                state, last_seq=0, max_seq=0, received=state.received + 1, resets=state.resets + 1
            )
        elif s > state.max_seq:
            state = replace(
                state,
                last_seq=s,
                max_seq=s,
                received=state.received + 1,
                gaps=state.gaps + s - state.max_seq - 1,
            )
        else:
            state = replace(state, last_seq=s, received=state.received + 1, gaps=max(0, state.gaps - 1))
    return state


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(
    st.none()
    | st.builds(SeqState, st.integers(0, 50), st.integers(0, 50), st.integers(0, 9), st.integers(0, 9)),
    st.lists(st.integers(0, 60), max_size=30),
)
def test_sequence_accounting_matches_the_rules_message_by_message(
    before: SeqState | None, seqs: list[int]
) -> None:
    assert advance(before, seqs) == _reference(before, seqs)
