"""Per-device sequence accounting (pure).

Devices number their messages 0, 1, 2, ... (restarting after a reboot). Given the sequence numbers newly
stored for a device, in arrival order, each with the device's own time, keep:

* ``gaps``: numbers the device skipped that have not (yet) arrived. A late arrival below the highest
  number seen (older by the device's clock) fills a hole and reduces the count.
* ``resets``: restarts — a lower number that is *newer* by the device's clock than the highest one seen
  (after a reboot a device counts from 0 or 1 again; either way nothing was lost).
* ``jumps``: a number so far ahead of the highest one seen that the device cannot have sent the messages
  in between in the time that passed (at twice its reporting rate, and a hundred more; an event-driven
  device at most one a second): a corrupt or re-initialised counter, not loss. The count goes on from the
  new number; if the device then goes on from where it was before the jump (the jump was one corrupt
  message), it is taken back from there.

Real devices do all of these: a stop panel that once sent ``seq`` 900001 must not read as 899,999 lost
messages, nor its next message, ``seq`` 0, as nine more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

#: an event-driven device (no reporting interval) is taken to send at most this often
EVENT_INTERVAL_S = 1.0
JUMP_RATE_FACTOR = 2.0
JUMP_SLACK = 100


@dataclass(frozen=True, slots=True)
class SeqState:
    last_seq: int
    max_seq: int
    received: int = 0
    gaps: int = 0
    resets: int = 0
    jumps: int = 0
    before_jump: int | None = None  # the highest number before the last jump (until the count settles)
    max_time: datetime | None = None  # the device's time of the newest message


def plausible_skip(elapsed_s: float, interval_s: float | None) -> float:
    """How many numbers a device may skip in ``elapsed_s`` and still be losing messages, not jumping."""
    every = interval_s if interval_s and interval_s > 0 else EVENT_INTERVAL_S
    return JUMP_RATE_FACTOR * max(0.0, elapsed_s) / every + JUMP_SLACK


def advance(
    state: SeqState | None, items: Iterable[tuple[int, datetime]], interval_s: float | None = None
) -> SeqState | None:
    """The state after ``items`` ((seq, device time) in arrival order) of a device reporting every
    ``interval_s`` (None or 0: event-driven). Plain locals in the loop: this runs once per stored reading."""
    it = iter(items)
    if state is None:
        first = next(it, None)
        if first is None:
            return None
        state = SeqState(first[0], first[0], 1, max_time=first[1])
    last, mx, received, gaps, resets, jumps, before, mx_t = (
        state.last_seq,
        state.max_seq,
        state.received,
        state.gaps,
        state.resets,
        state.jumps,
        state.before_jump,
        state.max_time,
    )
    for s, t in it:
        received += 1
        newer = mx_t is None or t > mx_t
        elapsed = (t - mx_t).total_seconds() if mx_t is not None else 0.0
        if s > mx:
            skipped = s - mx - 1
            if skipped > plausible_skip(elapsed, interval_s):
                jumps += 1
                before = mx if before is None else before
            else:
                gaps += skipped
            last = mx = s
            mx_t = t if newer else mx_t
        elif s < mx and newer:
            if before is not None and before < s and s - before - 1 <= plausible_skip(elapsed, interval_s):
                gaps += s - before - 1  # the jump was one corrupt number: the count goes on from before it
            else:
                resets += 1  # a reboot: counting again from 0 (or 1)
            before = None
            last = mx = s
            mx_t = t
        else:  # a late arrival (a duplicate never reaches here: the store filtered it)
            last = s
            gaps = max(0, gaps - 1)
    return SeqState(last, mx, received, gaps, resets, jumps, before, mx_t)
