"""The rules file: thresholds per domain, per-zone and per-device overrides, and (read by
:mod:`alerts.config`) the alerts' policies, notification routes and delivery watch.

Loaded from YAML, validated strictly (unknown keys, wrong types and impossible
values are errors that name the offending key), and reloadable: the service
checks the file's modification time and swaps in a new, valid version, or keeps
the running one and logs why the edit was refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from alerts import config as alert_config
from alerts.model import Policy
from analytics.airquality.quality import QualityConfig
from analytics.broker_watch import BrokerConfig
from analytics.broker_watch import check as check_broker
from analytics.cctv import CctvConfig, EventRule
from analytics.outage import OutageConfig
from analytics.outage import check as check_outage
from analytics.parking import ParkingConfig
from analytics.shapes import ShapeConfig
from analytics.shapes import check as check_shapes
from citywatch.contracts.messages import CctvEventType
from citywatch.strict import RulesError, build, checked

EVENT_TYPES = [t.value for t in CctvEventType]  # the CCTV event table's keys


#: the domains whose settings a zone or a device may override (over the city's)
LAYERED: dict[str, type[Any]] = {"quality": QualityConfig, "parking": ParkingConfig, "cctv": CctvConfig}
Own = dict[str, dict[str, Any]]  # domain -> the settings given (validated values)


@dataclass(frozen=True)
class Rules:
    quality: QualityConfig = field(default_factory=QualityConfig)
    cctv: CctvConfig = field(default_factory=CctvConfig)
    parking: ParkingConfig = field(default_factory=ParkingConfig)
    shapes: ShapeConfig = field(default_factory=ShapeConfig)
    outage: OutageConfig = field(default_factory=OutageConfig)
    broker: BrokerConfig = field(default_factory=BrokerConfig)
    zone_own: dict[str, Own] = field(default_factory=dict)  # zone -> its own settings, per domain
    device_own: dict[str, Own] = field(default_factory=dict)  # device -> its own settings, per domain
    alerting: alert_config.AlertRules = field(default_factory=alert_config.AlertRules)  # the alerts' half

    def settings_for(self, domain: str, zone: str = "", device: str | None = None) -> Any:
        """A domain's settings (``quality``, ``parking``, ``cctv``) for a device of a zone: the device's own
        over its zone's over the city's (the CCTV event table per type and per setting)."""
        city = getattr(self, domain)
        layers = [self.zone_own.get(zone, {}).get(domain, {})]
        if device is not None:
            layers.append(self.device_own.get(device, {}).get(domain, {}))
        own: dict[str, Any] = {}
        for layer in layers:
            own |= {k: v for k, v in layer.items() if k != "events"}
        if any("events" in layer for layer in layers):
            own["events"] = merge_events(city.events, *(layer.get("events", {}) for layer in layers))
        return dataclasses.replace(city, **own) if own else city

    def has_own(self, domain: str, zone: str, device: str) -> bool:
        """The device, or its zone, has settings of its own for ``domain``."""
        return domain in self.device_own.get(device, {}) or domain in self.zone_own.get(zone, {})

    def quality_for(self, zone: str) -> QualityConfig:
        q: QualityConfig = self.settings_for("quality", zone)
        return q

    def quality_for_station(self, station: str, zone: str) -> QualityConfig:
        """A station's quality thresholds: its own settings over its zone's (over the city's)."""
        q: QualityConfig = self.settings_for("quality", zone, station)
        return q


def _cross_check(domain: str, cfg: Any, where: str) -> None:
    """What the types alone do not say about a layered domain's settings (the city's, a zone's, a
    device's merged over its zone's): hysteresis, thresholds in order."""
    problem: tuple[str, str] | None = None
    if domain == "quality" and cfg.drift_off >= cfg.drift_on:
        problem = "drift_off", "must be below drift_on (hysteresis)"
    elif domain == "parking" and not cfg.release < cfg.almost_full <= 1:
        problem = "release", "needs release < almost_full <= 1"
    elif domain == "parking" and cfg.release_after_s < 0:
        problem = "release_after_s", "must be >= 0 (0: a status ends as soon as it drops)"
    elif domain == "cctv" and cfg.recurring_quiet_s < cfg.quiet_s:
        problem = "recurring_quiet_s", "must be at least quiet_s (a recurring event waits longer)"
    elif domain == "cctv" and cfg.recurring_n == 1:
        problem = "recurring_n", "at least 2 (0: never): one episode does not recur"
    elif domain == "cctv":
        for t, rule in cfg.events.items():
            if rule.same_as is None:
                continue
            if rule.same_as not in EVENT_TYPES or rule.same_as == t:
                others = ", ".join(sorted(set(EVENT_TYPES) - {t}))
                problem = f"events.{t}.same_as", f"another event type ({others})"
            elif cfg.events.get(rule.same_as, EventRule()).same_as:
                problem = f"events.{t}.same_as", f"{rule.same_as} is itself same_as another: name that one"
            if problem:
                break
    if problem:
        raise RulesError(f"{where}.{problem[0]}", problem[1])


def merge_events(base: dict[str, EventRule], *layers: dict[str, dict[str, Any]]) -> dict[str, EventRule]:
    """The CCTV event table ``base`` with ``layers`` over it (each: per type, the settings it gives)."""
    out = dict(base)
    for layer in layers:
        for t, given in layer.items():
            out[t] = dataclasses.replace(out.get(t, EventRule()), **given)
    return out


def _events(base: dict[str, EventRule], given: Any, where: str) -> dict[str, dict[str, Any]]:
    """The ``events`` a CCTV section gives (per event type, some settings of its rule), validated over
    ``base``; only the settings given."""
    if not isinstance(given, dict):
        raise RulesError(where, f"expected a mapping of event types, got {type(given).__name__}")
    out: dict[str, dict[str, Any]] = {}
    for t, fields in given.items():
        t = str(t)
        if t not in EVENT_TYPES:
            raise RulesError(f"{where}.{t}", f"unknown event type (known: {', '.join(EVENT_TYPES)})")
        fields = fields or {}
        rule = build(EventRule, {**dataclasses.asdict(base.get(t, EventRule())), **fields}, f"{where}.{t}")
        if bad := [s for s, at in rule.above_confidence.items() if not 0 < at <= 1]:
            raise RulesError(f"{where}.{t}.above_confidence.{bad[0]}", "a confidence is in (0, 1]")
        if bad := [s for s, at in rule.above_count.items() if at < 1]:
            raise RulesError(f"{where}.{t}.above_count.{bad[0]}", "a count is at least 1")
        out[t] = {k: getattr(rule, k) for k in fields}
    return out


def _domain(domain: str, base: Any, given: Any, where: str) -> tuple[Any, dict[str, dict[str, Any]] | None]:
    """A layered domain's settings: ``given`` over ``base``, validated; and, for CCTV, the event rules given
    (merged per type and setting, not replacing the table)."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise RulesError(where, f"expected a mapping, got {type(given).__name__}")
    table = domain == "cctv"  # the one domain with a table merged per entry
    rest = {k: v for k, v in given.items() if not (table and k == "events")}
    events = _events(base.events, given["events"], f"{where}.events") if table and "events" in given else None
    fields = {k: v for k, v in dataclasses.asdict(base).items() if not (table and k == "events")}
    cfg = build(LAYERED[domain], {**fields, **rest}, where)
    if table:
        cfg = dataclasses.replace(cfg, events=merge_events(base.events, events or {}))
    _cross_check(domain, cfg, where)
    return cfg, events


def _own(domain: str, city: Any, given: Any, where: str) -> dict[str, Any]:
    """The settings a zone or a device gives for ``domain``, validated (merged over the city's, with the
    same cross checks); only the keys given (CCTV events: only the types and settings given)."""
    if not isinstance(given, dict):
        raise RulesError(where, f"expected a mapping, got {type(given).__name__}")
    cfg, events = _domain(domain, city, given, where)
    own = {k: getattr(cfg, k) for k in given if k != "events"}  # only CCTV has events: merged per entry
    return own | ({"events": events} if events is not None else {})


def _layer(doc: Any, section: str, city: dict[str, Any], what: str) -> dict[str, Own]:
    """The ``zones`` or ``devices`` section: per zone or device, its own settings per domain."""
    out: dict[str, Own] = {}
    for name, given in (doc.get(section) or {}).items():
        name = str(name)
        if not isinstance(given, dict) or not given or set(given) - set(LAYERED):
            raise RulesError(f"{section}.{name}", f"{what} overrides {', '.join(map(repr, LAYERED))}")
        out[name] = {d: _own(d, city[d], given[d] or {}, f"{section}.{name}.{d}") for d in given}
    return out


def parse(text: str, default_policy: Policy | None = None) -> Rules:
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise RulesError("(file)", f"not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise RulesError("(file)", "the top level must be a mapping")
    known = {
        "quality",
        "cctv",
        "parking",
        "shapes",
        "outage",
        "broker",
        "zones",
        "devices",
        *alert_config.SECTIONS,
    }
    if unknown := sorted(set(doc) - known):
        raise RulesError(unknown[0], f"unknown section (known: {', '.join(sorted(known))})")
    city = {d: _domain(d, cls(), doc.get(d), d)[0] for d, cls in LAYERED.items()}
    quality, parking, cctv = city["quality"], city["parking"], city["cctv"]
    shapes = checked(ShapeConfig, doc.get("shapes"), "shapes", check_shapes)
    outage = checked(OutageConfig, doc.get("outage"), "outage", check_outage)
    broker = checked(BrokerConfig, doc.get("broker"), "broker", check_broker)
    zones = _layer(doc, "zones", city, "a zone")
    devices = _layer(doc, "devices", city, "a device (quality: a station, parking: a sensor, cctv: a camera)")
    return Rules(
        quality,
        cctv,
        parking,
        shapes,
        outage,
        broker,
        zones,
        devices,
        alert_config.parse(doc, default_policy),
    )


def default_text() -> str:
    return resources.files("analytics").joinpath("rules.yaml").read_text()


#: the analytics_state row where the analytics service says which rules text it runs
IN_FORCE = "analytics:v1:rules"


def digest(text: str) -> str:
    """A short fingerprint of a rules text: which version is in force where."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class RulesFile:
    """The rules file on disk, re-read when it changes."""

    def __init__(self, path: Path | None, default_policy: Policy | None = None) -> None:
        self.path = path
        self.default_policy = default_policy
        self.mtime: float | None = None
        text = self._read()
        self.rules = parse(text, default_policy)  # invalid at start: the error stops the service
        self.digest = digest(text)  # of the text in force
        self.mtime = self._mtime()

    def _read(self) -> str:
        return self.path.read_text() if self.path else default_text()

    def _mtime(self) -> float | None:
        return self.path.stat().st_mtime if self.path and self.path.exists() else None

    def reload_if_changed(self) -> Rules | None:
        """The new rules if the file changed and is valid; None if unchanged; raises RulesError if invalid."""
        m = self._mtime()
        if m == self.mtime:
            return None
        self.mtime = m
        text = self._read()
        self.rules = parse(text, self.default_policy)
        self.digest = digest(text)
        return self.rules
