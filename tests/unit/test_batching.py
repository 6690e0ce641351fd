from __future__ import annotations

from datetime import UTC, datetime

import pytest

from citywatch.contracts.topics import Stream
from ingest.batching import FlushPolicy, group
from ingest.decode import Accepted, Reason, Rejected
from ingest.rows import STATUS


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
