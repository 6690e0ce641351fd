"""Zone outages (pure): many devices of one zone going silent together is one cause, not many faults.

A power cut or a broken backhaul takes a whole zone's devices off the air at once. Paging an operator
once per device (23 ``device.offline`` alerts) buries the one thing to know: *the zone is down*. So the
devices of a zone that went offline within ``spread_s`` of each other are grouped; when the group is at
least ``min_devices`` devices and ``min_fraction`` of the zone's devices, it is one ``zone.outage`` alert
on ``zone:{zone_id}``, and those devices raise no ``device.offline`` alert of their own (one already
live is resolved, saying which outage covers it). A device's own alert by Last Will waits ``hold_s``
(60 s) so the outage is recognised before its first devices page one by one. The outage stays while
``min_devices`` of its devices are still offline (no fraction needed to stay: a zone coming back device
by device does not flap), and clears when fewer are. A device still offline then gets its own
``device.offline`` alert: the outage did not explain it.

"Offline since" is when the broker announced its Last Will, or else its last data. Mobile devices
(buses) are not tied to a zone's power or network and are left out; so are devices never heard from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from alerts.model import Raise, Severity, alert
from citywatch.i18n import Text, at, place

RULE = "zone.outage"
MOBILE = frozenset({"bus"})


@dataclass(frozen=True)
class OutageConfig:
    enabled: bool = True
    min_devices: int = 3  # at least this many devices silent together
    min_fraction: float = 0.5  # ... and at least this share of the zone's devices (to raise)
    spread_s: float = 900.0  # "together": went offline within this many seconds of each other
    severity: Literal["warning", "critical"] = "critical"
    hold_s: float = 60.0  # a device's own offline alert by Last Will waits this long: the broker announces
    # a dark zone's devices over about 1.5 keepalives, and the zone's outage must be seen before any pages


def check(config: OutageConfig) -> str | None:
    """What is wrong with ``config`` (None: nothing)."""
    if config.min_devices < 2:
        return "min_devices: at least 2 (one device offline is device.offline)"
    if not 0 < config.min_fraction <= 1:
        return "min_fraction: must be above 0 and at most 1"
    if config.spread_s <= 0:
        return "spread_s: must be above 0"
    if config.hold_s > config.spread_s:
        return "hold_s: must not exceed spread_s"
    return None


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    kind: str
    zone: str  # '' for none
    heard: bool  # ever heard from (data or a status message)
    offline_since: datetime | None  # None: not offline


@dataclass(frozen=True, slots=True)
class Outage:
    zone: str
    devices: tuple[str, ...]  # offline together, earliest first
    watched: int  # the zone's devices that count
    first: datetime  # the first of them went offline
    last: datetime  # the last of them went offline
    kinds: tuple[tuple[str, int], ...]  # how many of each kind

    @property
    def subject(self) -> str:
        return f"zone:{self.zone}"

    def event(self, severity: Severity) -> Raise:
        n = len(self.devices)
        spread = (self.last - self.first).total_seconds()
        what = ", ".join(f"{k} {c}" for k, c in self.kinds)
        words = {
            "n": n,
            "watched": self.watched,
            "what": what,
            "minutes": round(spread / 60),
            "from": at(self.first),
        }
        return alert(
            RULE,
            self.subject,
            "platform",
            severity,
            Text(
                "alert.zone.outage", {"n": n, "watched": self.watched, "zone": place(self.subject, self.zone)}
            ),
            float(n),
            observed=float(n),
            baseline=float(self.watched),
            score=round(n / self.watched, 3),
            window_start=self.first,
            window_end=self.last,
            details={"zone": self.zone, "devices": list(self.devices), "kinds": dict(self.kinds)},
            message=Text("why.zone.outage.at_once" if spread < 60 else "why.zone.outage.spread", words),
        )


def _largest_group(offline: list[Device], spread: timedelta) -> list[Device]:
    """The most devices whose offline times lie within ``spread`` of each other (earliest such group)."""
    ordered = sorted(offline, key=lambda d: (d.offline_since, d.device_id))
    best: list[Device] = []
    lo = 0
    for hi, d in enumerate(ordered):
        assert d.offline_since is not None
        while ordered[lo].offline_since < d.offline_since - spread:  # type: ignore[operator]
            lo += 1
        if hi - lo + 1 > len(best):
            best = ordered[lo : hi + 1]
    return best


def outages(devices: Iterable[Device], live: set[str], config: OutageConfig) -> dict[str, Outage]:
    """The zones in outage now, by subject (``zone:{id}``); ``live``: the subjects whose outage alert
    is live (they only need ``min_devices`` to stay)."""
    if not config.enabled:
        return {}
    by_zone: dict[str, list[Device]] = {}
    for d in devices:
        if d.zone and d.heard and d.kind not in MOBILE:
            by_zone.setdefault(d.zone, []).append(d)
    out: dict[str, Outage] = {}
    spread = timedelta(seconds=config.spread_s)
    for zone, members in sorted(by_zone.items()):
        group = _largest_group([d for d in members if d.offline_since is not None], spread)
        n, watched = len(group), len(members)
        if n < config.min_devices:
            continue
        if f"zone:{zone}" not in live and n < config.min_fraction * watched:
            continue
        kinds: dict[str, int] = {}
        for d in group:
            kinds[d.kind] = kinds.get(d.kind, 0) + 1
        first, last = group[0].offline_since, group[-1].offline_since
        assert first is not None and last is not None
        out[f"zone:{zone}"] = Outage(
            zone, tuple(d.device_id for d in group), watched, first, last, tuple(sorted(kinds.items()))
        )
    return out


def covered(found: Mapping[str, Outage]) -> dict[str, str]:
    """Each device an outage explains, with the outage's subject."""
    return {dev: o.subject for o in found.values() for dev in o.devices}
