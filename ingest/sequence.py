"""Per-device sequence accounting (pure).

Devices number their messages 0, 1, 2, ... (restarting at 0 after a reboot).
Given the sequence numbers newly stored for a device, in arrival order, keep:

* ``gaps``: numbers the device skipped that have not (yet) arrived. A late
  arrival below the highest number seen fills a hole and reduces the count.
* ``resets``: restarts at 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SeqState:
    last_seq: int
    max_seq: int
    received: int = 0
    gaps: int = 0
    resets: int = 0


def advance(state: SeqState | None, seqs: Iterable[int]) -> SeqState | None:
    """The state after ``seqs`` (plain locals in the loop: this runs once per stored reading)."""
    it = iter(seqs)
    if state is None:
        first = next(it, None)
        if first is None:
            return None
        last = mx = first
        received, gaps, resets = 1, 0, 0
    else:
        last, mx, received, gaps, resets = (
            state.last_seq,
            state.max_seq,
            state.received,
            state.gaps,
            state.resets,
        )
    for s in it:
        received += 1
        if s == 0 and mx > 0:  # a restart
            last = mx = 0
            resets += 1
        elif s > mx:
            gaps += s - mx - 1
            last = mx = s
        else:  # a late arrival (a duplicate never reaches here: the store filtered it)
            last = s
            gaps = max(0, gaps - 1)
    return SeqState(last, mx, received, gaps, resets)
