"""Per-device sequence accounting (pure).

Devices number their messages 0, 1, 2, ... (restarting at 0 after a reboot).
Given the sequence numbers newly stored for a device, in arrival order, keep:

* ``gaps``: numbers the device skipped that have not (yet) arrived. A late
  arrival below the highest number seen fills a hole and reduces the count.
* ``resets``: restarts at 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class SeqState:
    last_seq: int
    max_seq: int
    received: int = 0
    gaps: int = 0
    resets: int = 0


def advance(state: SeqState | None, seqs: Iterable[int]) -> SeqState | None:
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
                gaps=state.gaps + (s - state.max_seq - 1),
            )
        else:  # a late arrival (a duplicate never reaches here: the store filtered it)
            state = replace(state, last_seq=s, received=state.received + 1, gaps=max(0, state.gaps - 1))
    return state
