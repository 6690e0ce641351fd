"""The city's local time: where a local hour matters (a station's usual level at this hour, a lot's
hour of the week, night at a camera, a day on a report), it is the city's, from ``CITYWATCH_TIMEZONE``
(an IANA name, default Asia/Seoul), daylight saving included where the zone has it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT = "Asia/Seoul"
SEOUL = ZoneInfo(DEFAULT)


def zone(name: str) -> ZoneInfo:
    """The time zone called ``name``; a ValueError naming it when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name, such as Asia/Seoul)") from None


def hour_of_week(t: datetime, tz: ZoneInfo) -> int:
    """0 (Monday 00–01 local) … 167."""
    local = t.astimezone(tz)
    return local.weekday() * 24 + local.hour


def is_night(t: datetime, tz: ZoneInfo, start_h: int = 22, end_h: int = 6) -> bool:
    local = t.astimezone(tz)
    return local.hour >= start_h or local.hour < end_h
