from __future__ import annotations

import pytest

from boarding.bell import Demand, Passage, Request, StopPassage


def test_requests_merge_cancel_and_expire() -> None:
    d = Demand("s1", "r1", ttl_s=600)
    d.add(Request("a", 2, False, 0))
    d.add(Request("b", 1, True, 100))
    d.add(Request("a", 2, False, 0))  # the same request again (QoS 1 redelivery): no double count
    assert (d.passengers, d.wheelchair, d.request_ids) == (3, True, ["a", "b"])
    assert d.cancel("b") and not d.cancel("zzz")
    assert (d.passengers, d.wheelchair) == (2, False)
    assert d.expire(599) == [] and [r.request_id for r in d.expire(600)] == ["a"]
    assert not d.waiting


STOPS = [("s1", 500.0), ("s2", 1000.0)]
CASES = [
    (
        "served",
        [(0, 400, 30, False), (10, 495, 3, True), (40, 500, 0, True), (50, 540, 15, False)],
        [Passage("s1", True, 50)],
    ),
    ("passed", [(0, 400, 30, False), (5, 480, 35, False), (10, 560, 35, False)], [Passage("s1", False, 10)]),
    (
        "slow-but-door-shut",
        [(0, 480, 4, False), (5, 505, 2, False), (10, 560, 20, False)],
        [Passage("s1", False, 10)],
    ),
    (
        "door-open-too-far",
        [(0, 440, 0, True), (5, 460, 0, True), (10, 560, 30, False)],
        [Passage("s1", False, 10)],
    ),
    (
        "two-stops",
        [(0, 490, 0, True), (5, 600, 30, False), (10, 1100, 30, False)],
        [Passage("s1", True, 5), Passage("s2", False, 10)],
    ),
    ("not-yet", [(0, 100, 30, False), (5, 300, 30, False)], []),
    (
        "jitter-backwards",
        [(0, 520, 0, True), (5, 510, 0, True), (10, 531, 10, False)],
        [Passage("s1", True, 10)],
    ),
]


@pytest.mark.parametrize(("fixes", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_served_or_passed(fixes: list[tuple[float, float, float, bool]], expected: list[Passage]) -> None:
    sp = StopPassage(list(STOPS))
    out = []
    for t, along, speed, door in fixes:
        out += sp.update(t, along, speed, door)
    assert out == expected
