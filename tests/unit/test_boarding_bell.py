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


def test_a_jump_along_the_path_is_a_resync_not_a_drive_by() -> None:
    sp = StopPassage(list(STOPS))
    assert sp.update(0, 100, 30, False) == []
    assert (
        sp.update(5, 1500, 30, False) == []
    )  # 1.4 km in 5 s: a projection that jumped, not a drive past s1, s2


LOOP = [("a", 0.0), ("b", 400.0), ("c", 800.0)]


def test_round_the_loop_start() -> None:
    sp = StopPassage(list(LOOP), loop_length_m=1200.0)
    out = []
    for t, along, speed, door in [
        (0, 1100, 30, False),
        (5, 1195, 2, True),
        (10, 5, 0, True),
        (15, 60, 20, False),
    ]:
        out += sp.update(t, along, speed, door)
    assert out == [
        Passage("a", True, 15)
    ]  # dwelt at the start stop (seen at either end of the loop), then left
    sp2 = StopPassage(list(LOOP), loop_length_m=1200.0)
    out2 = []
    for t, along, speed, door in [(0, 1150, 30, False), (5, 40, 30, False)]:
        out2 += sp2.update(t, along, speed, door)
    assert out2 == [Passage("a", False, 5)]  # drove through the start without stopping
