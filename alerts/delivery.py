"""Notifications that do not get out (pure): the platform watching its own pagers.

A webhook that is down never blocks the engine (:mod:`alerts.outbox` retries it with backoff), but then
nobody is paged: the SMS gateway's outage is silent exactly where it matters. So each sink is watched,
and the control room is told, on the console and through the sinks that still work:

- a sink that has not accepted a notification for ``late_s`` (it fails, or hangs) is one critical
  ``platform.notifications`` alert on ``sink:{name}``, saying how many wait, since when, and its last
  error; it clears once the sink has caught up;
- a sink whose ``max_per_hour`` cap has held notifications back for ``held_s`` is one warning: the cap
  is protecting people from a flood, but whoever that gateway pages is not hearing of those alerts.

Webhook names are shown without path and query (where gateways put their tokens).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from alerts.model import Raise, Severity, alert
from alerts.routing import shown
from citywatch.i18n import Text

RULE = "platform.notifications"


@dataclass(frozen=True)
class DeliveryConfig:
    enabled: bool = True
    late_s: float = 300.0  # a sink that has not accepted a notification this long is not getting through
    held_s: float = 1800.0  # a sink's cap has held notifications back this long: its people miss them


def check(config: DeliveryConfig) -> str | None:
    """What is wrong with ``config`` (None: nothing)."""
    if config.late_s < 30:
        return "late_s: at least 30 (a notification takes a moment, and a retry a little longer)"
    if config.held_s < 60:
        return "held_s: at least 60"
    return None


@dataclass(frozen=True, slots=True)
class SinkState:
    sink: str  # the outbox's name for it (``mqtt``, ``webhook:{url}``)
    waiting: int  # notifications it has not accepted yet
    oldest_s: float | None  # age of the oldest of those
    last_error: str | None = None  # of the oldest one's last attempt
    attempts: int = 0  # of the oldest one
    held: int = 0  # held back by its cap since ``held_since`` (for its next digest)
    held_since: datetime | None = None


def _late(s: SinkState, cfg: DeliveryConfig) -> Raise:
    name = shown(s.sink)
    age = s.oldest_s or 0.0
    counts = {"waiting": s.waiting, "minutes": age / 60}
    why = (
        Text("why.delivery.late.error", {**counts, "error": s.last_error, "attempts": s.attempts})
        if s.last_error
        else Text("why.delivery.late", counts)
    )
    return alert(
        RULE,
        f"sink:{name}",
        "platform",
        Severity.CRITICAL,
        Text("alert.platform.notifications.late", {"sink": name}),
        age,
        observed=age,
        threshold=cfg.late_s,
        details={"sink": name, "waiting": s.waiting, "last_error": s.last_error, "attempts": s.attempts},
        message=why,
    )


def _held(s: SinkState, cfg: DeliveryConfig, now: datetime) -> Raise:
    name = shown(s.sink)
    assert s.held_since is not None
    age = (now - s.held_since).total_seconds()
    return alert(
        RULE,
        f"sink:{name}",
        "platform",
        Severity.WARNING,
        Text("alert.platform.notifications.held", {"sink": name}),
        float(s.held),
        observed=float(s.held),
        threshold=cfg.held_s,
        window_start=s.held_since,
        window_end=now,
        details={"sink": name, "held": s.held},
        message=Text("why.delivery.held", {"held": s.held, "minutes": age / 60}),
    )


def troubled(sinks: Iterable[SinkState], cfg: DeliveryConfig, now: datetime) -> dict[str, Raise]:
    """The sinks that are not getting notifications out, by alert subject (``sink:{name}``): late ones
    (critical) before capped ones (warning)."""
    if not cfg.enabled:
        return {}
    out: dict[str, Raise] = {}
    for s in sinks:
        if s.waiting and s.oldest_s is not None and s.oldest_s >= cfg.late_s:
            out[f"sink:{shown(s.sink)}"] = _late(s, cfg)
        elif s.held and s.held_since is not None and (now - s.held_since).total_seconds() >= cfg.held_s:
            out[f"sink:{shown(s.sink)}"] = _held(s, cfg, now)
    return out
