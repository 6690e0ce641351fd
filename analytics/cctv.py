"""CCTV video-analytics events -> alert events (pure).

* Severity from event type x confidence x zone area x local time of day (fire
  and smoke always critical; a child-zone entry or an intrusion at night is
  critical, by day a warning; ...). Events below ``min_confidence`` are noise.
* A burst of the same type from one camera is one alert (``cctv.{type}:{camera}``)
  whose count grows; it clears itself when the event does not recur within
  ``quiet_s``. An event that keeps coming back — ``recurring_n`` episodes within
  ``recurring_window_s`` (a crowd at a bus stop every half hour) — is *recurring*:
  its alert stays open until ``recurring_quiet_s`` without it, instead of
  announcing itself again every time (ISA-18.2's off-delay for a chattering
  alarm); the alert says so.
* The same type from ``incident_cameras`` cameras of one zone within
  ``incident_window_s`` is one incident (``cctv.incident.{type}:zone:{zone}``), one step more severe
  than the most severe of its events (a warning becomes critical; fire is critical either way). While it
  is live it *groups* the zone's events of its type: a camera without a live alert of that type joins
  the incident (its camera list grows) instead of opening an alert of its own, so the operator is told
  once about the scene, not once per camera (ISA-18.2's alarm grouping). The alert that was already open
  before the incident formed stays as it is. The incident clears when no camera of the zone has seen
  the type for ``quiet_s``.
* A camera flooding low-confidence events (``noisy_per_h`` in an hour) is a
  probable malfunction or false-alarm source (``cctv.noisy:{camera}``); while it is, its low-confidence
  events raise nothing more (is it the scene or the camera? the camera), its confident ones still do.
* A camera silent for far longer than its learned event rate makes likely
  (P(no event) < ``silent_p``) is flagged (``cctv.silent:{camera}``) — unless it is offline (its Last
  Will): then it is silent because it is off, which its device alert (or its zone's outage) says already;
  a silent alert raised before clears, saying so.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from alerts.model import AlertEvent, Clear, Severity, alert
from analytics.conditions import Conditions
from citywatch.i18n import Text, at, place, sentences
from citywatch.localtime import SEOUL, is_night


@dataclass(frozen=True, slots=True)
class CctvEvent:
    camera: str
    time: datetime
    event_type: str
    confidence: float
    zone: str
    area: str = ""  # school, park, road, market, ...
    object_count: int | None = None


SeverityName = Literal["info", "warning", "critical"]
Level = Literal["off", "info", "warning", "critical"]  # "off": the event type raises no alert


@dataclass(frozen=True, slots=True)
class EventRule:
    """How severe one event type is: ``day`` and ``night`` (local time, 22:00–06:00; default: as by day),
    raised to at least ``areas[area]`` where the camera's area is named, to at least the severity named in
    ``above_confidence`` once the confidence reaches its value, and in ``above_count`` once the objects
    counted reach it. ``off`` raises no alert for the type at that time of day (nothing raises it back).
    ``same_as`` names the type this one is one scene with (smoke: fire): its events, as severe as its own
    rule says, count on that type's alerts and incidents instead of opening their own."""

    day: Level = "info"
    night: Level | None = None
    areas: dict[str, SeverityName] = field(default_factory=dict)
    above_confidence: dict[SeverityName, float] = field(default_factory=dict)
    above_count: dict[SeverityName, int] = field(default_factory=dict)
    same_as: str | None = None


#: the city's table (the rules file's ``cctv.events`` changes it, per type and per setting, for the city,
#: a zone or a camera): fire, smoke and fights always critical; a child-zone entry or an intrusion critical
#: at night; a fall critical when the analytics are sure of it; a big crowd or one at night a warning; ...
DEFAULT_EVENTS: dict[str, EventRule] = {
    "fire": EventRule("critical"),
    "smoke": EventRule("critical", same_as="fire"),  # smoke and flames: one fire, one call to 119
    "fight": EventRule("critical"),
    "child_zone_entry": EventRule("warning", "critical"),
    "intrusion": EventRule("warning", "critical"),
    "fall": EventRule("warning", above_confidence={"critical": 0.8}),
    "crowd": EventRule("info", "warning", above_count={"warning": 50}),
    "wrong_way": EventRule("warning"),
    "abandoned_object": EventRule("warning"),
    "loitering": EventRule("info", "warning", areas={"school": "warning"}),
    "illegal_parking": EventRule("info"),
}


@dataclass(frozen=True, slots=True)
class CctvConfig:
    min_confidence: float = 0.5
    events: dict[str, EventRule] = field(default_factory=lambda: dict(DEFAULT_EVENTS))
    quiet_s: float = 600.0
    recurring_n: int = 3  # episodes within recurring_window_s that make an event recurring (0: never)
    recurring_window_s: float = 7200.0
    recurring_quiet_s: float = 3600.0  # a recurring event's alert clears after this long without it
    incident_window_s: float = 300.0
    incident_cameras: int = 2
    noisy_per_h: int = 60
    noisy_confidence: float = 0.6
    silent_p: float = 0.001
    silent_min_events: int = 10  # events seen, and hours observed, before the rate is trusted
    silent_min_span_s: float = 3 * 3600


def scene_of(event_type: str, cfg: CctvConfig) -> str:
    """The type whose alerts an event of ``event_type`` counts on: its own, or the one it is ``same_as``."""
    rule = cfg.events.get(event_type)
    return rule.same_as if rule is not None and rule.same_as else event_type


def severity(e: CctvEvent, cfg: CctvConfig, tz: ZoneInfo = SEOUL) -> Severity | None:
    """The event's severity by its type's rule (``cfg.events``; a type not in it: info), or None for an
    event below ``min_confidence`` or of a type switched off at this time of day (night: 22–06 in the
    city's time zone ``tz``)."""
    if e.confidence < cfg.min_confidence:
        return None
    rule = cfg.events.get(e.event_type, EventRule())
    level = (rule.night or rule.day) if is_night(e.time, tz) else rule.day
    if level == "off":
        return None
    floors: list[str] = [level]
    if e.area in rule.areas:
        floors.append(rule.areas[e.area])
    floors += [s for s, at in rule.above_confidence.items() if e.confidence >= at]
    floors += [s for s, at in rule.above_count.items() if (e.object_count or 0) >= at]
    return max(Severity[f.upper()] for f in floors)


@dataclass
class _Camera:
    first: datetime
    last: datetime
    events: int = 0
    low_conf: deque[datetime] = field(default_factory=deque)


@dataclass
class _Incident:
    since: datetime  # the first event of the window that formed it
    first: str  # the camera that saw it first
    cameras: set[str]
    events: int
    worst: Severity  # the most severe of its events


class CctvRules:
    def __init__(self, config: CctvConfig | None = None, tz: ZoneInfo = SEOUL) -> None:
        self.cfg = config or CctvConfig()
        self.tz = tz  # the city's: when it is night
        self.overrides: dict[str, CctvConfig] = {}  # per camera, from the rules file's ``devices``
        self.live: dict[str, tuple[datetime, str]] = {}  # alert key -> (last event, camera)
        self.episodes: dict[str, deque[datetime]] = {}  # alert key -> when its recent episodes began
        self.recurring: dict[str, int] = {}  # live alert keys that are recurring -> episodes that made it so
        self.zone_events: dict[tuple[str, str], deque[tuple[datetime, str, Severity]]] = {}
        self.incidents: dict[str, _Incident] = {}  # live incident keys -> what they grouped
        self.cameras: dict[str, _Camera] = {}
        self.conditions = Conditions()  # noisy and silent cameras
        self.offline: set[str] = set()  # cameras known to be off (their Last Will): silent for that reason

    def cfg_for(self, camera: str) -> CctvConfig:
        """The camera's own thresholds, if the rules file gives it some; else the city's (incidents across
        the cameras of a zone always use the city's)."""
        return self.overrides.get(camera, self.cfg)

    def on_event(self, e: CctvEvent) -> list[AlertEvent]:
        cfg = self.cfg_for(e.camera)
        out: list[AlertEvent] = []
        cam = self.cameras.setdefault(e.camera, _Camera(e.time, e.time))
        cam.events += 1
        cam.last = max(cam.last, e.time)
        out += self.conditions.clear(f"cctv.silent:{e.camera}", e.time, Text("clear.cctv.silent"))
        if e.confidence < cfg.noisy_confidence:
            cam.low_conf.append(e.time)
            while cam.low_conf and cam.low_conf[0] < e.time - timedelta(hours=1):
                cam.low_conf.popleft()
            n = len(cam.low_conf)
            if n >= cfg.noisy_per_h:
                out += self.conditions.update(
                    f"cctv.noisy:{e.camera}",
                    True,
                    lambda: alert(
                        "cctv.noisy",
                        e.camera,
                        "cctv",
                        Severity.WARNING,
                        Text("alert.cctv.noisy", {"camera": place(e.camera)}),
                        n,
                        observed=n,
                        threshold=cfg.noisy_per_h,
                        window_start=e.time - timedelta(hours=1),
                        window_end=e.time,
                        message=Text("why.cctv.noisy", {"n": n, "confidence": cfg.noisy_confidence}),
                    ),
                    e.time,
                    "",
                )
        if f"cctv.noisy:{e.camera}" in self.conditions and e.confidence < cfg.noisy_confidence:
            return out  # a camera flooding doubtful events: its fault's symptoms (cctv.noisy), not scenes
        sev = severity(e, cfg, self.tz)
        if sev is None:
            return out
        # incident: several cameras of the zone, same type, inside the window (the city's thresholds)
        city = self.cfg
        scene = scene_of(e.event_type, cfg)
        ikey = f"cctv.incident.{scene}:zone:{e.zone}"
        recent = self.zone_events.setdefault((e.zone, scene), deque())
        recent.append((e.time, e.camera, sev))
        while recent and recent[0][0] < e.time - timedelta(seconds=city.incident_window_s):
            recent.popleft()
        in_window = {c for _, c, _s in recent}
        grouping = ikey in self.live or len(in_window) >= city.incident_cameras
        key = f"cctv.{scene}:{e.camera}"
        if key in self.live or not grouping:  # the camera's own alert: opened, or one open already
            out.append(self._camera_alert(key, scene, e, sev, cfg))
        if grouping:
            out.append(self._incident_alert(ikey, scene, e, sev, recent))
        return out

    def _camera_alert(self, key: str, scene: str, e: CctvEvent, sev: Severity, cfg: CctvConfig) -> AlertEvent:
        recurring = self._episode(key, e.time, cfg)
        self.live[key] = (e.time, e.camera)
        details = {
            "zone": e.zone,
            "area": e.area,
            "object_count": e.object_count,
            "night": is_night(e.time, self.tz),
            "recurring": recurring,
            "event_type": e.event_type,
        }
        return (
            key,
            alert(
                f"cctv.{scene}",
                e.camera,
                "cctv",
                sev,
                Text("alert.cctv.event", {"event": Text(f"cctv.type.{scene}"), "camera": place(e.camera)}),
                e.confidence,
                observed=e.confidence,
                window_end=e.time,
                details=details,
                message=sentences(
                    Text(
                        "why.cctv.event" if scene == e.event_type else "why.cctv.event.scene",
                        {
                            "event": Text(f"cctv.kind.{e.event_type}"),
                            "confidence": e.confidence,
                            "zone": place(f"zone:{e.zone}", e.zone),
                            "scene": Text(f"cctv.kind.{scene}"),
                        },
                    ),
                    self._recurring_note(recurring, cfg),
                ),
            ),
            e.time,
        )

    def _incident_alert(
        self,
        ikey: str,
        scene: str,
        e: CctvEvent,
        sev: Severity,
        recent: deque[tuple[datetime, str, Severity]],
    ) -> AlertEvent:
        """The zone's incident of ``e``'s type, formed by ``recent`` (the zone's events of the type inside
        the window, ``e`` the last) or grown by ``e``: its cameras are every camera that has seen it while
        it is live; it is one step more severe than the most severe of its events."""
        city = self.cfg
        in_window = {c for _, c, _s in recent}
        if ikey not in self.incidents:  # it forms (tick forgets it when it clears)
            first_t, first_cam, _ = recent[0]
            worst = max(s for *_, s in recent)
            self.incidents[ikey] = _Incident(first_t, first_cam, in_window, len(recent), worst)
        else:
            inc = self.incidents[ikey]
            inc.cameras.add(e.camera)
            inc.events += 1
            inc.worst = max(inc.worst, sev)
        inc = self.incidents[ikey]
        irecurring = self._episode(ikey, e.time, city)
        self.live[ikey] = (e.time, "")
        isev = Severity(min(Severity.CRITICAL, inc.worst + 1))
        cams = sorted(inc.cameras)
        return (
            ikey,
            alert(
                f"cctv.incident.{scene}",
                f"zone:{e.zone}",
                "cctv",
                isev,
                Text(
                    "alert.cctv.incident",
                    {
                        "event": Text(f"cctv.kind.{scene}"),
                        "n": len(cams),
                        "zone": place(f"zone:{e.zone}", e.zone),
                    },
                ),
                float(len(cams)),
                observed=len(cams),
                threshold=city.incident_cameras,
                window_start=inc.since,
                window_end=e.time,
                details={
                    "cameras": cams,
                    "first_camera": inc.first,
                    "events": inc.events,
                    "worst_event_severity": inc.worst.label,
                    "recurring": irecurring,
                },
                message=sentences(
                    Text(
                        "why.cctv.incident",
                        {
                            "n": len(in_window),
                            "window": city.incident_window_s,
                            "cameras": len(cams),
                            "since": at(inc.since),
                            "event": Text(f"cctv.kind.{scene}"),
                        },
                    ),
                    self._recurring_note(irecurring, city),
                ),
            ),
            e.time,
        )

    def _episode(self, key: str, t: datetime, cfg: CctvConfig) -> int:
        """Note a new episode of ``key`` if it is not live. Returns, if ``key`` is recurring (it became so
        with this episode or an earlier one while live), how many episodes made it so; else 0."""
        seen = self.episodes.setdefault(key, deque())
        if key not in self.live:
            seen.append(t)
        while seen and seen[0] < t - timedelta(seconds=cfg.recurring_window_s):
            seen.popleft()
        if cfg.recurring_n and len(seen) >= cfg.recurring_n:
            self.recurring[key] = max(self.recurring.get(key, 0), len(seen))
        return self.recurring.get(key, 0)

    @staticmethod
    def _recurring_note(n: int, cfg: CctvConfig) -> Text | None:
        if not n:
            return None
        return Text(
            "why.cctv.recurring",
            {"n": n, "hours": cfg.recurring_window_s / 3600, "quiet": cfg.recurring_quiet_s / 60},
        )

    def _quiet_s(self, key: str, cfg: CctvConfig) -> float:
        return cfg.recurring_quiet_s if key in self.recurring else cfg.quiet_s

    def tick(self, now: datetime) -> list[AlertEvent]:
        """Time passes: quiet alerts clear, silent cameras are flagged."""
        out: list[AlertEvent] = []
        for key, (last, cam_id) in list(self.live.items()):
            quiet_s = self._quiet_s(key, self.cfg_for(cam_id) if cam_id else self.cfg)
            if (now - last).total_seconds() >= quiet_s:
                del self.live[key]
                self.recurring.pop(key, None)
                self.incidents.pop(key, None)
                seen = self.episodes.get(key)
                if seen and seen[-1] < now - timedelta(seconds=self.cfg.recurring_window_s):
                    del self.episodes[key]  # nothing left to count: forget it
                out.append(
                    (
                        key,
                        Clear(Text("clear.cctv.recurring", {"minutes": quiet_s / 60})),
                        last + timedelta(seconds=quiet_s),
                    )
                )
        for name, cam in self.cameras.items():
            cfg = self.cfg_for(name)
            calm = not cam.low_conf or cam.low_conf[-1] < now - timedelta(hours=1)
            if calm and f"cctv.noisy:{name}" in self.conditions:
                cam.low_conf.clear()
                out += self.conditions.clear(f"cctv.noisy:{name}", now, Text("clear.cctv.noisy"))
            if name in self.offline:  # off: the device alert (or the zone's outage) explains the silence
                out += self.conditions.clear(
                    f"cctv.silent:{name}",
                    now,
                    Text("clear.cctv.offline"),
                )
                continue
            span = (cam.last - cam.first).total_seconds()
            if cam.events < cfg.silent_min_events or span < cfg.silent_min_span_s:
                continue
            rate = cam.events / span  # events per second
            quiet = (now - cam.last).total_seconds()
            if math.exp(-rate * quiet) < cfg.silent_p:
                out += self.conditions.update(
                    f"cctv.silent:{name}",
                    True,
                    lambda name=name, cam=cam, rate=rate, quiet=quiet: alert(  # type: ignore[misc]
                        "cctv.silent",
                        name,
                        "cctv",
                        Severity.WARNING,
                        Text("alert.cctv.silent", {"camera": place(name)}),
                        quiet,
                        observed=quiet,
                        baseline=rate * 3600,
                        window_start=cam.last,
                        window_end=now,
                        message=Text("why.cctv.silent", {"minutes": quiet / 60, "per_h": rate * 3600}),
                    ),
                    now,
                    "",
                )
        return out
