"""Batch policy and grouping (pure).

A batch is flushed when it holds ``max_rows`` readings or its oldest message
has waited ``max_wait_s``, whichever comes first. Grouping keeps arrival order,
which is also the order in which the broker expects acknowledgements.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ingest.decode import Accepted, Decoded, Rejected
from ingest.rows import Row, TableSpec


@dataclass(frozen=True, slots=True)
class FlushPolicy:
    max_rows: int = 5000
    max_wait_s: float = 0.2

    def due(self, n: int, oldest_age_s: float) -> bool:
        return n >= self.max_rows or (n > 0 and oldest_age_s >= self.max_wait_s)

    def wait_for(self, n: int, oldest_age_s: float) -> float:
        """How long the writer may block for more messages before the batch is due."""
        if n == 0:
            return self.max_wait_s
        return max(0.0, self.max_wait_s - oldest_age_s)


@dataclass
class Grouped:
    """One batch split by destination, duplicates inside the batch removed."""

    rows: dict[str, tuple[TableSpec, list[Row]]] = field(default_factory=dict)
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[tuple[Rejected, bytes, bytes]] = field(default_factory=list)  # (why, topic, payload)
    in_batch_duplicates: int = 0


def key_of(spec: TableSpec, row: Row) -> tuple[Any, ...]:
    return spec.key_of(row)


def group(items: Iterable[tuple[Decoded, bytes, bytes]]) -> Grouped:
    g = Grouped()
    seen: set[tuple[str, tuple[Any, ...]]] = set()
    rejected_seen: set[tuple[bytes, bytes]] = set()
    for decoded, topic, payload in items:
        if isinstance(decoded, Rejected):
            if (topic, payload) in rejected_seen:
                g.in_batch_duplicates += 1
                continue
            rejected_seen.add((topic, payload))
            g.rejected.append((decoded, topic, payload))
            continue
        spec = decoded.table
        row = decoded.row
        k = (spec.name, spec.key_of(row))
        if k in seen:
            g.in_batch_duplicates += 1
            continue
        seen.add(k)
        rows = g.rows.get(spec.name)
        if rows is None:
            rows = g.rows[spec.name] = (spec, [])
        rows[1].append(row)
        g.accepted.append(decoded)
    return g
