"""Per-device flood control (pure): one token bucket per registered device.

A device may send ``rate`` readings a second on average and ``burst`` at once.
Beyond that its readings are refused with the reason ``rate_limited`` and kept
as dead letters: a runaway device (a camera re-sending one event in a loop, a
station in a reboot loop) cannot fill the tables, the analytics and the
operators' alert list, and nothing it sent is silently dropped.

The bucket refills by whichever clock moved further forward since the
device's previous reading: its own timestamps (already held to the clock
limits) or the time of arrival. So a backlog that arrives all at once after an
outage of the device, the broker or ingest passes (its timestamps are spread
at the device's normal pace); a device whose clock steps back carries on from
there; and a device stamping many readings with one second while sending them
faster than ``rate`` is held back. This guards against malfunction (a camera
re-sending one event in a loop, a reboot loop), not against a device forging
its timestamps. Memory is one small entry per device
that has sent anything: callers only ask for registered devices.

With several ingest workers on a shared subscription each worker sees about
``1/N`` of a device's messages, so the limit a device meets is about ``N``
times ``rate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamped: float  # the device timestamp of its previous reading
    arrived: float  # when its last reading arrived
    refused: int = 0  # refused since the last report


@dataclass
class DeviceRateLimiter:
    rate: float  # messages a second, sustained
    burst: float  # messages at once
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")

    def allow(self, device_id: str, stamped: float, arrived: float) -> bool:
        """Take one token for ``device_id``'s reading stamped ``stamped`` that arrived at ``arrived`` (both
        epoch seconds); False when it has none."""
        b = self._buckets.get(device_id)
        if b is None:
            self._buckets[device_id] = _Bucket(self.burst - 1.0, stamped, arrived)
            return True
        elapsed = max(stamped - b.stamped, arrived - b.arrived)
        if elapsed > 0:
            b.tokens = min(self.burst, b.tokens + elapsed * self.rate)
        b.stamped, b.arrived = stamped, max(b.arrived, arrived)
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
