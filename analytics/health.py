"""Device health rules (pure): when silence means offline, when sequence gaps mean loss."""

from __future__ import annotations


def offline_after(interval_s: float | None, factor: float = 3.0, min_s: float = 300.0) -> float | None:
    """Seconds of silence after which a device that reports every ``interval_s`` is offline;
    None for event-driven devices (interval 0 or unknown), which only their Last Will reports."""
    if not interval_s:
        return None
    return max(factor * interval_s, min_s)


def loss_alarm(new_gaps: int, threshold: int = 1) -> bool:
    """A device whose messages go missing (``new_gaps`` since the last check) is losing data."""
    return new_gaps >= threshold
