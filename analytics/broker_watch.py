"""What the MQTT broker says of the devices it turned away (pure): security the operators can see.

Mosquitto publishes its log on ``$SYS/broker/log/{level}`` (``log_dest topic``); the analytics service reads
it (:mod:`analytics.broker_log`) and feeds each line here:

- ``platform.broker_logins`` (subject ``broker``): at least ``failed_logins`` connections refused for a
  wrong user name or password within ``window_s`` — someone guessing devices' credentials, or a fleet
  configured with old ones. Mosquitto names no user on a refused connection, only where it came from (the
  line before it), so the alert counts them by address.
- ``device.client_takeover`` (subject: the client id): two connections taking one client id from each other
  at least ``takeovers`` times within the window — a cloned device, or two devices given one identity.
- ``device.publish_refused`` (subject: the client id): a publish the ACL refused (a device writing on
  another's topics), at least ``refused_publishes`` within the window. Mosquitto logs these at its debug
  level only (``log_type debug`` on the broker: every message is logged then, which a city-wide broker
  should not do for long), to its log file alone: the rule sees them where that file is read
  (:class:`analytics.broker_log.BrokerLog`, ``CITYWATCH_ANALYTICS_BROKER_LOG_FILE``).

Each alert clears once its count within the window falls below its threshold.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.model import AlertEvent, Clear, Severity, alert
from citywatch.i18n import Text, place

LOGINS, TAKEOVER, REFUSED = "platform.broker_logins", "device.client_takeover", "device.publish_refused"
RULES = (LOGINS, TAKEOVER, REFUSED)

_CONNECTION = re.compile(r"New connection from (?P<address>\S+?)(?::\d+)? on port \d+")
_NOT_AUTHORISED = re.compile(r"Client (?P<client>\S+) disconnected, not authori[sz]ed")
_TAKEOVER = re.compile(r"Client (?P<client>\S+) already connected, closing old connection")
_DENIED = re.compile(r"Denied PUBLISH from (?P<client>\S+) \(.*?'(?P<topic>[^']*)'")


@dataclass(frozen=True)
class BrokerConfig:
    enabled: bool = True
    window_s: float = 600.0
    failed_logins: int = 20
    takeovers: int = 3
    refused_publishes: int = 1


def check(config: BrokerConfig) -> str | None:
    """What is wrong with ``config`` (None: nothing)."""
    if config.window_s < 60:
        return "window_s: at least 60 seconds"
    for name in ("failed_logins", "takeovers", "refused_publishes"):
        if getattr(config, name) < 1:
            return f"{name}: at least 1"
    return None


@dataclass(frozen=True, slots=True)
class BrokerEvent:
    kind: str  # one of RULES
    at: datetime
    client: str | None = None
    address: str | None = None
    topic: str | None = None


class BrokerWatch:
    def __init__(self, config: BrokerConfig | None = None) -> None:
        self.config = config or BrokerConfig()
        self.events: deque[BrokerEvent] = deque()
        self.live: dict[str, int] = {}  # the alerts raised and not cleared: key -> the count last raised with
        self._address: str | None = None  # where the latest connection came from

    def feed(self, line: str, at: datetime) -> BrokerEvent | None:
        """One log line; the event it is, if it is one this watch counts."""
        event: BrokerEvent | None = None
        if m := _CONNECTION.search(line):
            self._address = m["address"]
        elif m := _NOT_AUTHORISED.search(line):
            client = None if m["client"] == "<unknown>" else m["client"]
            event = BrokerEvent(LOGINS, at, client, self._address)
        elif m := _TAKEOVER.search(line):
            event = BrokerEvent(TAKEOVER, at, m["client"])
        elif m := _DENIED.search(line):
            event = BrokerEvent(REFUSED, at, m["client"], topic=m["topic"])
        if event is not None:
            self.events.append(event)
        return event

    def evaluate(self, now: datetime) -> list[AlertEvent]:
        """The alerts the last ``window_s`` make — raised when they begin to hold, and again when their count
        has grown since — and the clearing of those that no longer hold."""
        c = self.config
        start = now - timedelta(seconds=c.window_s)
        while self.events and self.events[0].at < start:
            self.events.popleft()
        out: list[AlertEvent] = []
        holding: dict[str, int] = {}
        if not c.enabled:
            self.events.clear()
        logins = [e for e in self.events if e.kind == LOGINS]
        minutes = round(c.window_s / 60)
        if len(logins) >= c.failed_logins:
            by = Counter(e.address or "unknown" for e in logins)
            key = f"{LOGINS}:broker"
            holding[key] = len(logins)
            title = Text("alert.broker.logins", {"n": len(logins), "minutes": minutes})
            out.append((key, alert(LOGINS, "broker", "platform", Severity.WARNING, title, float(len(logins)),
                                   observed=len(logins), threshold=c.failed_logins, window_start=start, window_end=now,
                                   details={"addresses": dict(by.most_common(10))},
                                   message=Text("why.broker.logins", {"n": len(logins), "minutes": minutes,
                                                                      "address": by.most_common(1)[0][0]})),
                        now))  # fmt: skip
        for kind, threshold, text in ((TAKEOVER, c.takeovers, "alert.broker.takeover"),
                                      (REFUSED, c.refused_publishes, "alert.broker.refused")):  # fmt: skip
            per = Counter(e.client for e in self.events if e.kind == kind and e.client)
            for client, n in sorted(per.items()):
                if n < threshold:
                    continue
                key = f"{kind}:{client}"
                holding[key] = n
                topics = sorted(
                    {e.topic for e in self.events if e.kind == kind and e.client == client and e.topic}
                )
                out.append((key, alert(kind, client, "platform", Severity.WARNING,
                                       Text(text, {"client": place(client), "n": n, "minutes": minutes}), float(n),
                                       observed=n, threshold=threshold, window_start=start, window_end=now,
                                       details={"topics": topics[:10]} if topics else {},
                                       message=Text("why.broker.count", {"n": n, "minutes": minutes})), now))  # fmt: skip
        out = [(key, ev, at) for key, ev, at in out if holding[key] > self.live.get(key, 0)]  # new, or grown
        for key in sorted(self.live.keys() - holding.keys()):
            out.append((key, Clear(Text("clear.broker", {"minutes": minutes})), now))
        self.live = {k: max(n, self.live.get(k, 0)) if k in self.live else n for k, n in holding.items()}
        return out
