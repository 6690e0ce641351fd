"""The rules file: thresholds per domain, per-zone overrides and alert policies.

Loaded from YAML, validated strictly (unknown keys, wrong types and impossible
values are errors that name the offending key), and reloadable: the service
checks the file's modification time and swaps in a new, valid version, or keeps
the running one and logs why the edit was refused.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import TypeAdapter, ValidationError

from alerts.model import Policy
from alerts.routing import Route
from alerts.routing import check as check_route
from analytics.airquality.quality import QualityConfig
from analytics.cctv import CctvConfig
from analytics.outage import OutageConfig
from analytics.outage import check as check_outage
from analytics.parking import ParkingConfig
from analytics.shapes import ShapeConfig
from analytics.shapes import check as check_shapes

T = TypeVar("T")


class RulesError(ValueError):
    """The rules file is not valid; ``where`` names the key."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"rules file: {where}: {problem}")
        self.where = where
        self.problem = problem


def _build(cls: type[T], data: Any, where: str) -> T:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RulesError(where, f"expected a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise RulesError(f"{where}.{unknown[0]}", f"unknown setting (known: {', '.join(sorted(names))})")
    try:
        value = TypeAdapter(cls).validate_python(data)
    except ValidationError as e:
        err = e.errors()[0]
        raise RulesError(".".join([where, *map(str, err["loc"])]), err["msg"]) from None
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        v = getattr(value, f.name)
        if isinstance(v, int | float) and not isinstance(v, bool) and v < 0:
            raise RulesError(f"{where}.{f.name}", "must not be negative")
    return value


@dataclass(frozen=True)
class Rules:
    quality: QualityConfig = field(default_factory=QualityConfig)
    cctv: CctvConfig = field(default_factory=CctvConfig)
    parking: ParkingConfig = field(default_factory=ParkingConfig)
    shapes: ShapeConfig = field(default_factory=ShapeConfig)
    outage: OutageConfig = field(default_factory=OutageConfig)
    zone_quality: dict[str, QualityConfig] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    notifications: dict[str, Route] = field(default_factory=dict)  # per sink (alerts.routing)
    device_quality: dict[str, dict[str, Any]] = field(default_factory=dict)  # station -> its own settings
    device_parking: dict[str, ParkingConfig] = field(default_factory=dict)  # sensor -> its thresholds
    device_cctv: dict[str, CctvConfig] = field(default_factory=dict)  # camera -> its thresholds

    def quality_for(self, zone: str) -> QualityConfig:
        return self.zone_quality.get(zone, self.quality)

    def quality_for_station(self, station: str, zone: str) -> QualityConfig:
        """A station's quality thresholds: its own settings over its zone's (over the city's)."""
        own = self.device_quality.get(station)
        return dataclasses.replace(self.quality_for(zone), **own) if own else self.quality_for(zone)

    def policy_for(self, rule: str, default: Policy) -> Policy:
        matches = [p for p in self.policies if rule == p or rule.startswith(p + ".")]
        return self.policies[max(matches, key=len)] if matches else default


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
        "zones",
        "devices",
        "policies",
        "notifications",
    }
    if unknown := sorted(set(doc) - known):
        raise RulesError(unknown[0], f"unknown section (known: {', '.join(sorted(known))})")
    quality = _build(QualityConfig, doc.get("quality"), "quality")
    if quality.drift_off >= quality.drift_on:
        raise RulesError("quality.drift_off", "must be below drift_on (hysteresis)")
    parking = _build(ParkingConfig, doc.get("parking"), "parking")
    if not parking.release < parking.almost_full <= 1:
        raise RulesError("parking.release", "needs release < almost_full <= 1")
    shapes = _build(ShapeConfig, doc.get("shapes"), "shapes")
    if problem := check_shapes(shapes):
        where, what = problem.split(": ", 1)
        raise RulesError(f"shapes.{where}", what)
    outage = _build(OutageConfig, doc.get("outage"), "outage")
    if problem := check_outage(outage):
        where, what = problem.split(": ", 1)
        raise RulesError(f"outage.{where}", what)
    zones: dict[str, QualityConfig] = {}
    for zone, section in (doc.get("zones") or {}).items():
        if not isinstance(section, dict) or set(section) - {"quality"}:
            raise RulesError(f"zones.{zone}", "only a 'quality' section can be overridden per zone")
        merged = {**dataclasses.asdict(quality), **(section.get("quality") or {})}
        zones[str(zone)] = _build(QualityConfig, merged, f"zones.{zone}.quality")
    cctv = _build(CctvConfig, doc.get("cctv"), "cctv")
    device_quality: dict[str, dict[str, Any]] = {}
    device_parking: dict[str, ParkingConfig] = {}
    device_cctv: dict[str, CctvConfig] = {}
    for dev, section in (doc.get("devices") or {}).items():
        dev = str(dev)
        if not isinstance(section, dict) or not section or set(section) - {"quality", "parking", "cctv"}:
            raise RulesError(f"devices.{dev}", "a device overrides 'quality' (a station), 'parking' (a sensor)"
                             " or 'cctv' (a camera)")  # fmt: skip
        if "quality" in section:
            own = section["quality"] or {}
            station = _build(QualityConfig, {**dataclasses.asdict(quality), **own}, f"devices.{dev}.quality")
            if station.drift_off >= station.drift_on:
                raise RulesError(f"devices.{dev}.quality.drift_off", "must be below drift_on (hysteresis)")
            device_quality[dev] = {k: getattr(station, k) for k in own}  # validated values, over the zone's
        if "parking" in section:
            sensor = _build(
                ParkingConfig,
                {**dataclasses.asdict(parking), **(section["parking"] or {})},
                f"devices.{dev}.parking",
            )
            if not sensor.release < sensor.almost_full <= 1:
                raise RulesError(f"devices.{dev}.parking.release", "needs release < almost_full <= 1")
            device_parking[dev] = sensor
        if "cctv" in section:
            device_cctv[dev] = _build(
                CctvConfig, {**dataclasses.asdict(cctv), **(section["cctv"] or {})}, f"devices.{dev}.cctv"
            )
    base = dataclasses.asdict(default_policy or Policy())
    policies = {
        str(rule): _build(Policy, {**base, **(p or {})}, f"policies.{rule}")
        for rule, p in (doc.get("policies") or {}).items()
    }
    notifications: dict[str, Route] = {}
    for sink, section in (doc.get("notifications") or {}).items():
        sink = str(sink)
        if sink != "mqtt" and not sink.startswith("webhook:"):
            raise RulesError(f"notifications.{sink}", "a sink is 'mqtt', 'webhook:*' or 'webhook:{url}'")
        route = _build(Route, section, f"notifications.{sink}")
        if problem := check_route(route):
            where, what = problem.split(": ", 1)
            raise RulesError(f"notifications.{sink}.{where}", what)
        notifications[sink] = route
    return Rules(
        quality,
        cctv,
        parking,
        shapes,
        outage,
        zones,
        policies,
        notifications,
        device_quality,
        device_parking,
        device_cctv,
    )


def default_text() -> str:
    return resources.files("analytics").joinpath("rules.yaml").read_text()


class RulesFile:
    """The rules file on disk, re-read when it changes."""

    def __init__(self, path: Path | None, default_policy: Policy | None = None) -> None:
        self.path = path
        self.default_policy = default_policy
        self.mtime: float | None = None
        self.rules = parse(self._read(), default_policy)  # invalid at start: the error stops the service
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
        self.rules = parse(self._read(), self.default_policy)
        return self.rules
