"""The device registry as the analytics see it: each device's kind and zone, each air-quality station's
analysers (``meta.instruments``) and reporting interval, and (for a zone partition) that zone's air-quality stations. Re-read
every step, cheaply. And what every analytics step works with (:class:`StepContext`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import psycopg
from pydantic import ValidationError

from alerts.writer import AlertWriter
from citywatch.contracts.instruments import Instruments
from citywatch.localtime import SEOUL

if TYPE_CHECKING:
    from analytics.config import Rules

Row = tuple[
    str, str, str, Any, float | None
]  # (device, kind, zone or '', meta.instruments, expected interval s)


def registry_rows(conn: psycopg.Connection[Any]) -> list[Row]:
    """(device, kind, zone or '', instruments, expected interval in s) of every registered device."""
    return conn.execute(
        "SELECT device_id, kind, coalesce(zone_id, ''), meta->'instruments', expected_interval_s FROM devices"
        " ORDER BY device_id"
    ).fetchall()


def instruments_of(value: Any) -> Instruments:
    """A station's analysers from its registry entry; one the API would refuse reads as the defaults (the
    API validates what it registers, so only a hand-edited row gets here)."""
    try:
        return Instruments.model_validate(value or {})
    except ValidationError:
        return Instruments()


class Registry:
    def __init__(self, zone: str | None = None) -> None:
        self.zone = zone  # a zone partition's zone (None: the whole city)
        self.kind_of: dict[str, str] = {}  # every device -> kind
        self.zone_of: dict[str, str] = {}  # air-quality station -> zone
        self.device_zone: dict[str, tuple[str, str]] = {}  # device -> (kind, zone)
        self.stations: list[str] = []  # this zone's air-quality stations (zone partitions)
        self.instruments: dict[str, Instruments] = {}  # air-quality station -> its analysers
        self.interval_s: dict[str, float] = {}  # air-quality station -> how often it reports (registered)
        self._rows: list[Row] = []

    def refresh(self, rows: list[Row]) -> bool:
        """Take the registry ``rows``; True when they changed (a device came or went, or its kind, zone or
        analysers changed)."""
        if rows == self._rows:
            return False
        self._rows = rows
        self.kind_of = {dev: kind for dev, kind, *_ in rows}
        self.zone_of = {dev: zone for dev, kind, zone, *_ in rows if kind == "aq"}
        self.instruments = {dev: instruments_of(i) for dev, kind, _zone, i, _s in rows if kind == "aq"}
        self.interval_s = {dev: float(s) for dev, kind, _z, _i, s in rows if kind == "aq" and s}
        if self.zone is not None:
            self.stations = sorted(dev for dev, zone in self.zone_of.items() if zone == self.zone)
        self.device_zone = {dev: (kind, zone) for dev, kind, zone, *_ in rows}
        return True

    def only(self, column: str = "device_id") -> tuple[str, dict[str, object]]:
        """SQL restricting air-quality rows to this zone's stations (nothing for the whole city)."""
        if self.zone is None:
            return "", {}
        return f"AND {column} = ANY(%(stations)s)", {"stations": self.stations}


@dataclass(frozen=True)
class StepContext:
    """What every analytics step works with: the service's connection (``conn()``: it may be replaced
    after an error), the alerts' writer its events go to, the registry, the rules in force
    (``rules()``: a reload swaps them) and the city's time zone."""

    conn: Callable[[], psycopg.Connection[Any]]
    alerts: AlertWriter
    registry: Registry
    rules: Callable[[], Rules]
    tz: ZoneInfo = SEOUL  # the city's time zone (``CITYWATCH_TIMEZONE``)
