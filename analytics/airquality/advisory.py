"""미세먼지·오존 경보 (fine-dust and ozone advisories), as a pure state machine.

Fed one hourly mean at a time, per station or per zone. Rules (Korean national
criteria):

* PM2.5: advisory (주의보) when the hourly mean is >= 75 µg/m³ for 2 hours or
  more, lifted when it falls below 35; warning (경보) at >= 150 for 2 hours,
  downgraded to advisory below 75.
* PM10: advisory at >= 150 for 2 hours, lifted below 100; warning at >= 300
  for 2 hours, downgraded below 150.
* O3 (1-hour mean): advisory >= 0.12 ppm, warning >= 0.3, grave warning (중대경보)
  >= 0.5; each level is entered at once and stepped down when the hour falls
  below that level's threshold.

An advisory is one episode that changes level (one long-lived alert), not a
stream of alerts: the machine emits ``issued``, ``raised``, ``lowered`` and
``lifted`` events, and ``peaked`` when an hour within the episode is its highest yet (so the episode's
alert records its true peak, not only the values it changed level at).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum


class Level(IntEnum):
    NONE = 0
    ADVISORY = 1  # 주의보
    WARNING = 2  # 경보
    GRAVE = 3  # 중대경보 (ozone only)


@dataclass(frozen=True, slots=True)
class Rule:
    pollutant: str
    issue: dict[Level, float]  # threshold to enter each level
    persist_h: int  # consecutive hours at or above the threshold before issuing
    step_down: dict[Level, float]  # below this the level is left

    @property
    def lowest(self) -> float:
        """Below this an hour counts towards no level."""
        return min(self.issue.values())


RULES: dict[str, Rule] = {
    "pm25": Rule(
        "pm25", {Level.ADVISORY: 75, Level.WARNING: 150}, 2, {Level.ADVISORY: 35, Level.WARNING: 75}
    ),
    "pm10": Rule(
        "pm10", {Level.ADVISORY: 150, Level.WARNING: 300}, 2, {Level.ADVISORY: 100, Level.WARNING: 150}
    ),
    "o3": Rule(
        "o3",
        {Level.ADVISORY: 0.12, Level.WARNING: 0.3, Level.GRAVE: 0.5},
        1,
        {Level.ADVISORY: 0.12, Level.WARNING: 0.3, Level.GRAVE: 0.5},
    ),
}


#: a doubtful station reading (see :mod:`analytics.airquality.validation`) this many hours running is
#: believed: a real local source persists where a glitch does not
CONFIRM_AFTER_H = 3


@dataclass(frozen=True, slots=True)
class State:
    level: Level = Level.NONE
    streaks: tuple[int, ...] = (0, 0, 0, 0)  # consecutive hours at/above each level's issue threshold
    since: datetime | None = None  # when the current episode was issued
    peak: float = 0.0
    confirmed_level: Level = Level.NONE  # the highest level of the episode believable hours stand for
    doubted_h: int = 0  # consecutive doubtful hours fed

    @property
    def confirmed(self) -> bool:
        return self.confirmed_level >= self.level

    @property
    def believed(self) -> bool:
        """The latest hour fed is believed: it passed validation, or its doubt held long enough."""
        return self.doubted_h == 0 or self.doubted_h >= CONFIRM_AFTER_H


#: no advisory, no streak, no doubt
QUIET = State()


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # issued | raised | lowered | lifted | peaked | confirmed
    level: Level
    previous: Level
    at: datetime
    value: float
    confirmed_level: Level = Level.GRAVE  # below ``level``: the level stands on doubtful hours (unconfirmed)

    @property
    def confirmed(self) -> bool:
        return self.confirmed_level >= self.level


def advance(
    rule: Rule, state: State, hour: datetime, value: float | None, trusted: bool = True
) -> tuple[State, list[Event]]:
    """Feed the mean of the hour ending at ``hour``; a missing hour holds the state. ``trusted``: the
    hour passed validation. A level entered on a doubtful hour is unconfirmed (what the episode's believable
    hours stand for is lower) until an hour is believed — valid, or doubtful for :data:`CONFIRM_AFTER_H`
    hours running — then ``confirmed``."""
    if value is None or (trusted and state == QUIET and value < rule.lowest):
        return state, []  # nothing held, nothing counted: most hours of the year
    doubted_h = 0 if trusted else state.doubted_h + 1
    believed = replace(state, doubted_h=doubted_h).believed
    streaks = tuple(
        (state.streaks[lvl] + 1 if value >= rule.issue[Level(lvl)] else 0) if Level(lvl) in rule.issue else 0
        for lvl in range(len(Level))
    )
    # the highest level whose threshold has held long enough, unless we are already higher
    target = max((lvl for lvl in rule.issue if streaks[lvl] >= rule.persist_h), default=Level.NONE)
    level = state.level
    if target > level:
        level = target
    else:  # step down while the hour is below the current level's step-down threshold
        while level > Level.NONE and value < rule.step_down[level]:
            level = Level(level - 1)
    confirmed_level = level if believed else min(state.confirmed_level, level)
    new = State(
        level,
        streaks,
        (state.since if state.level else hour) if level else None,
        max(state.peak, value) if level else 0.0,
        confirmed_level,
        doubted_h,
    )
    if level == state.level:
        if not level:
            return new, []
        if new.confirmed and not state.confirmed:
            return new, [Event("confirmed", level, level, hour, value, confirmed_level)]
        if value > state.peak:
            return new, [Event("peaked", level, level, hour, value, confirmed_level)]
        return new, []
    if state.level == Level.NONE:
        kind = "issued"
    elif level == Level.NONE:
        kind = "lifted"
    else:
        kind = "raised" if level > state.level else "lowered"
    return new, [Event(kind, level, state.level, hour, value, confirmed_level)]
