"""Per-device flood control (pure): one token bucket per registered device.

A device may send ``rate`` readings a second on average and ``burst`` at once.
Beyond that its readings are refused with the reason ``rate_limited`` and kept
as dead letters: a runaway device (a camera re-sending one event in a loop, a
station in a reboot loop) cannot fill the tables, the analytics and the
operators' alert list, and nothing it sent is silently dropped.

The bucket's clock is the device's own timestamps (already held to the clock
limits), not the time of arrival: a backlog that arrives all at once after an
outage of the device, the broker or ingest was sent at the device's normal
pace and passes; a device stamping many readings with one second, or sending
faster than its clock moves, is held back. Memory is one small entry per
device that has sent anything: callers only ask for registered devices.

With several ingest workers on a shared subscription each worker sees about
``1/N`` of a device's messages, so the limit a device meets is about ``N``
times ``rate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float  # when ``tokens`` was last brought up to date
    refused: int = 0  # refused since the last report


@dataclass
class DeviceRateLimiter:
    rate: float  # messages a second, sustained
    burst: float  # messages at once
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")

    def allow(self, device_id: str, at: float) -> bool:
        """Take one token for ``device_id``'s reading stamped ``at`` (epoch seconds); False when it has none.
        A reading stamped earlier than the last one refills nothing."""
        b = self._buckets.get(device_id)
        if b is None:
            self._buckets[device_id] = _Bucket(self.burst - 1.0, at)
            return True
        if at > b.at:
            b.tokens = min(self.burst, b.tokens + (at - b.at) * self.rate)
            b.at = at
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return True
        b.refused += 1
        return False

    def take_refusals(self) -> dict[str, int]:
        """The devices refused anything since the last call, with how many messages (and reset the counts)."""
        out = {d: b.refused for d, b in self._buckets.items() if b.refused}
        for d in out:
            self._buckets[d].refused = 0
        return out

    def forget(self, keep: set[str]) -> None:
        """Drop the buckets of devices no longer registered."""
        for d in [d for d in self._buckets if d not in keep]:
            del self._buckets[d]
