"""How far a re-evaluation has got, over every stream it runs (pure apart from the log).

``citywatch analytics --from … --to …`` re-evaluates the air quality, then the CCTV events, then the
parking events of the range. Progress is counted in rows of all three together (each stream's rows in
the range, counted before it starts), so the bar reaches 100 % when the last parking event is done, not
when the air quality is; the text says which stream it is in, how far in time and how many rows. Shown
by ``show`` (a progress bar on a terminal) or, without one, as a log line at most every ``every_s``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime

log = logging.getLogger("citywatch.analytics")

STREAMS = {"air_quality": "air quality", "cctv": "CCTV events", "parking": "parking events"}
Show = Callable[[str, float], None]  # (what it is doing, fraction done)


class Backfill:
    def __init__(self, totals: Mapping[str, int], show: Show | None = None, every_s: float = 10.0) -> None:
        self.totals = {s: totals.get(s, 0) for s in STREAMS}
        self.done = dict.fromkeys(STREAMS, 0)
        self.show = show
        self.every_s = every_s
        self._logged = float("-inf")

    @property
    def fraction(self) -> float:
        total = sum(self.totals.values())
        return 1.0 if total == 0 else min(1.0, sum(self.done.values()) / total)

    def report(self, stream: str, upto: datetime, n: int, last: bool = False) -> None:
        """``n`` rows of ``stream`` done, up to ``upto``; ``last``: the stream is finished."""
        self.done[stream] = max(n, self.totals[stream]) if last else n
        text = f"{STREAMS[stream]}: up to {upto:%Y-%m-%d %H:%M} ({n:,} of {self.totals[stream]:,})"
        if self.show is not None:
            self.show(text, self.fraction)
            return
        now = time.monotonic()
        if last or now - self._logged >= self.every_s:
            self._logged = now
            log.info("re-evaluating: %3.0f%%, %s", 100 * self.fraction, text)


def counter(
    backfill: Backfill | None, stream: str, every: int = 2000
) -> Callable[[datetime, int, bool], None]:
    """What a stream's loop calls as it goes (``(upto, rows done, finished)``); every ``every`` rows and at
    its end it reaches ``backfill`` (nothing when there is none: a live step)."""

    def tick(upto: datetime, n: int, last: bool = False) -> None:
        if backfill is not None and (last or n % every == 0):
            backfill.report(stream, upto, n, last)

    return tick
