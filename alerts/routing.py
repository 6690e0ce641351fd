"""Which notifications each sink is sent (pure).

A sink that pages people (an SMS or e-mail gateway behind a webhook) should not be sent every info-level
finding; the console and the MQTT topic for live consumers can take everything. A :class:`Route` per sink,
from the rules file's ``notifications`` section::

    notifications:
      "webhook:*": {min_severity: warning}                      # every webhook
      "webhook:https://sms.example/hook": {min_severity: critical, what: [opened, reopened, escalated]}
      mqtt: {}                                                  # everything (also the default)

``min_escalation_level`` makes a sink one step of an escalation chain: it hears of an alert only once the
alert has been escalated that far (``escalated`` at that level, and what follows: reminders, resolution)::

      "webhook:https://sms.example/manager": {min_severity: critical, min_escalation_level: 2}

The most specific entry wins (the sink's own name, then ``webhook:*``); a sink with no entry is sent every
notification. A notification a route refuses is recorded as handled for that sink, with the reason.

``max_per_hour`` caps what a sink is sent in any hour (a misbehaving rule at 3 a.m. must not send 500
text messages): past it, notifications are held back — recorded for that sink, with the reason — and
counted, and once the sink may be sent again, one digest says how many were held, of which severities
(see :mod:`alerts.outbox`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from alerts.model import Severity

WHATS = (
    "opened",
    "reopened",
    "severity_raised",
    "level_changed",
    "escalated",
    "reminded",
    "acknowledged",
    "resolved",
    "auto_resolved",
    "digest",
)
SeverityName = Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class Route:
    min_severity: SeverityName = "info"
    kinds: tuple[
        str, ...
    ] = ()  # device kinds or domains (aq, cctv, parking, bus, stop, platform); empty: all
    rules: tuple[str, ...] = ()  # rule names or prefixes (``aq.advisory``, ``cctv``); empty: all
    what: tuple[str, ...] = ()  # which notifications (opened, escalated, ...); empty: all
    max_per_hour: int | None = None  # at most this many sent in any hour; the rest held back, then one digest
    min_escalation_level: int = 0  # only alerts escalated at least this far (a later step of the chain)

    def refuses(self, n: Mapping[str, Any]) -> str | None:
        """Why this route does not take notification ``n`` (a payload), or None if it does."""
        severity = str(n.get("severity", "info"))
        if Severity[severity.upper()] < Severity[self.min_severity.upper()]:
            return f"severity {severity} below {self.min_severity}"
        if self.kinds and n.get("kind") not in self.kinds:
            return f"kind {n.get('kind')} not routed"
        rule = str(n.get("rule", ""))
        if self.rules and not any(rule == p or rule.startswith(p + ".") for p in self.rules):
            return f"rule {rule} not routed"
        if self.what and n.get("what") not in self.what:
            return f"{n.get('what')} not routed"
        level = int(n.get("escalation_level") or 0)
        if level < self.min_escalation_level:
            return f"escalation level {level} below {self.min_escalation_level}"
        return None


def check(route: Route) -> str | None:
    """What is wrong with ``route`` (None: nothing)."""
    unknown = sorted(set(route.what) - set(WHATS))
    if unknown:
        return f"what: unknown {unknown[0]!r} (known: {', '.join(WHATS)})"
    if route.max_per_hour is not None and route.max_per_hour < 1:
        return "max_per_hour: at least 1 (or leave it out: no limit)"
    if route.min_escalation_level < 0:
        return "min_escalation_level: 0 or more"
    return None


def route_for(sink: str, routes: Mapping[str, Route]) -> Route | None:
    """The route of sink ``sink`` (``mqtt``, ``webhook:{url}``): its own entry, else ``webhook:*`` for a
    webhook, else None (everything)."""
    if sink in routes:
        return routes[sink]
    if sink.startswith("webhook:") and "webhook:*" in routes:
        return routes["webhook:*"]
    return None


def shown(sink: str) -> str:
    """``webhook:{url}`` without its path and query (where gateways put their tokens)."""
    if not sink.startswith("webhook:") or sink == "webhook:*":
        return sink
    u = urlsplit(sink.removeprefix("webhook:"))
    tail = "/…" if (u.path not in ("", "/") or u.query) else ""
    return f"webhook:{u.scheme}://{u.hostname or ''}{f':{u.port}' if u.port else ''}{tail}"


def sink_label(sink: str) -> str:
    """A metric label for a sink: :func:`shown`, and where that hides a path or query, a short digest of the
    whole name, so that two webhooks on one host stay two series without their tokens in any label."""
    name = shown(sink)
    if name == sink or not name.endswith("/…"):
        return name
    return f"{name}#{hashlib.blake2b(sink.encode(), digest_size=4).hexdigest()}"
