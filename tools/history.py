"""Importing a device's history: years of a station's (or a garage counter's) past readings from a CSV,
through the same validation and dead-letter path as live data, then re-evaluated.

A city moving to citywatch brings the history of its stations. Each CSV row becomes the payload the
device would have sent (``ts``, or ``time``, and the reading's fields as columns: ``pm25``, ``pm10``,
``o3`` … for a station; ``lot_id``, ``occupied``, ``capacity`` … for a garage counter; an empty cell is no
value) and goes through ingest's own decoding (:func:`ingest.decode.decode`: the device must be
registered, the payload valid against its contract) and its store (:meth:`ingest.store.Store.write`):
rows written, refused ones dead-lettered with their reason, counted as worker ``history-import``. Only
the clock window is not applied — history is old by nature. A timestamp without an offset is in the
city's time zone. Each reading's ``seq`` is its time in epoch seconds, so importing the same file (or
an overlapping one) again stores nothing twice; imported readings take no part in the device's loss
accounting, which is about what it sends live.
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from citywatch.contracts.topics import DeviceKind, Stream, topic_for
from ingest.batching import group
from ingest.decode import Accepted, Decoded, Limits, decode
from ingest.store import Store

log = logging.getLogger("citywatch.history")

WORKER = "history-import"
BATCH = 5000
NO_CLOCK_WINDOW = Limits(max_future=timedelta(days=1), max_past=timedelta(days=365 * 100))
INTEGERS = {"occupied", "capacity", "entries", "exits", "object_count", "passengers"}


@dataclass
class Imported:
    rows: int = 0
    written: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    dead_by_reason: dict[str, int] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None


def _value(name: str, cell: str) -> Any:
    cell = cell.strip()
    if name in INTEGERS:
        try:
            return int(cell)
        except ValueError:
            return cell  # not a number: the contract refuses it, saying which field
    try:
        return float(cell)
    except ValueError:
        return cell


def payloads(path: Path, device_id: str, tz: ZoneInfo) -> Iterator[bytes]:
    """The CSV's rows as the payloads the device would have sent."""
    with path.open(newline="", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            body: dict[str, Any] = {"v": 1, "device_id": device_id}
            stamp = (row.pop("ts", None) or row.pop("time", None) or "").strip()
            try:
                ts = datetime.fromisoformat(stamp)
                if ts.tzinfo is None:
                    ts = ts.replace(tzinfo=tz)
                body["ts"], body["seq"] = ts.isoformat(), int(ts.timestamp())
            except ValueError:
                body["ts"] = stamp  # refused by the contract, with the reason, into the dead letters
            body |= {
                k.strip(): _value(k.strip(), v) for k, v in row.items() if k and v is not None and v.strip()
            }
            yield orjson.dumps(body)


def import_history(
    store: Store,
    path: Path,
    device_id: str,
    tz: ZoneInfo,
    stream: Stream | None = None,
    show: Callable[[int, Imported], None] | None = None,
) -> Imported:
    """Import ``path`` as ``device_id``'s history (``stream``: a kind's further stream, such as a garage
    counter's ``count``); ``show(rows done, so far)`` after each batch."""
    registry = store.load_registry()
    info = registry.get(device_id)
    if info is None:
        raise ValueError(f"{device_id} is not registered: register it first (POST /api/v1/devices)")
    topic = topic_for(DeviceKind(info.kind), device_id, stream).encode()
    out = Imported()
    batch: list[tuple[Decoded, bytes, bytes]] = []

    def flush() -> None:
        g = group(batch)
        result = store.write(g, len(batch), datetime.now().astimezone())
        out.written += result.written
        out.duplicates += result.duplicates
        out.dead_lettered += result.dead_lettered
        for reason, n in result.dead_by_reason.items():
            out.dead_by_reason[reason] = out.dead_by_reason.get(reason, 0) + n
        batch.clear()
        if show is not None:
            show(out.rows, out)

    for payload in payloads(path, device_id, tz):
        d = decode(topic, payload, datetime.now().astimezone(), registry, NO_CLOCK_WINDOW)
        if isinstance(d, Accepted):
            d.seq = None  # history takes no part in the live loss accounting
            out.first = d.time if out.first is None else min(out.first, d.time)
            out.last = d.time if out.last is None else max(out.last, d.time)
        batch.append((d, topic, payload))
        out.rows += 1
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return out


def log_progress(every_s: float = 10.0) -> Callable[[int, Imported], None]:
    """A log line at most every ``every_s``: how far an import without a terminal has got."""
    last = [float("-inf")]

    def show(rows: int, so_far: Imported) -> None:
        now = time.monotonic()
        if now - last[0] >= every_s:
            last[0] = now
            log.info(
                "imported %d rows: %d written, %d dead-lettered", rows, so_far.written, so_far.dead_lettered
            )

    return show
