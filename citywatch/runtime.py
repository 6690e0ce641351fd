"""Process settings for the services that handle every message.

CPython's cyclic garbage collector runs a young-generation pass every 700 new container objects.
Ingest makes dozens per message (the message, its decoded reading, the row, the batch's tuples), so at
ten thousand messages a second it ran hundreds of passes a second, each walking the messages held in
flight; measured on the ingest hot path (decode + group), that was 35-40 % of its time. Almost all of
those objects are freed by reference counting the moment a batch commits; cycles are rare. So:

* everything alive at start-up (modules, pydantic schemas, paho) is frozen out of the collector's
  sight, and
* the young generation is collected every ``young`` new objects instead of 700.

Memory stays bounded: at most ``young`` objects wait for a pass, and reference counting frees the rest.
"""

from __future__ import annotations

import gc

YOUNG = 20_000


def tune_gc(young: int = YOUNG) -> None:
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young, older, oldest)
