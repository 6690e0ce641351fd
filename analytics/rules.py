"""From findings to alert events (pure): rule names, severities, titles, explanations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alerts.model import Clear, Raise, Severity, alert
from analytics.airquality.advisory import Event as AdvisoryEvent
from analytics.airquality.advisory import Level
from analytics.airquality.quality import Finding

QUALITY_SEVERITY = {
    "aq.stuck": Severity.WARNING,
    "aq.spike": Severity.INFO,
    "aq.drift": Severity.WARNING,
    "aq.range": Severity.WARNING,
}
QUALITY_TITLE = {
    "aq.stuck": "Air-quality sensor stuck",
    "aq.spike": "Air-quality sensor spike",
    "aq.drift": "Air-quality sensor drifting from its neighbours",
    "aq.range": "Air-quality readings physically inconsistent",
}
ADVISORY_NAMES = {
    Level.ADVISORY: "advisory (주의보)",
    Level.WARNING: "warning (경보)",
    Level.GRAVE: "grave warning (중대경보)",
}
POLLUTANT_NAMES = {"pm25": "PM2.5 (초미세먼지)", "pm10": "PM10 (미세먼지)", "o3": "Ozone (오존)"}


def quality_event(f: Finding) -> tuple[str, Raise | Clear]:
    key = f"{f.rule}:{f.station}"
    if not f.active:
        return key, Clear(f.message or "condition cleared")
    return key, alert(
        f.rule,
        f.station,
        "aq",
        QUALITY_SEVERITY[f.rule],
        f"{QUALITY_TITLE[f.rule]}: {f.station}",
        f.score,
        observed=f.observed,
        threshold=f.threshold,
        baseline=f.baseline,
        score=f.score,
        window_end=f.time,
        details={"metric": "pm25", **f.details},  # the quality checks watch PM2.5 (the console charts it)
        message=f.message,
    )


def advisory_event(
    pollutant: str, subject: str, e: AdvisoryEvent, since: datetime | None
) -> tuple[str, Raise | Clear]:
    rule = f"aq.advisory.{pollutant}"
    key = f"{rule}:{subject}"
    if e.level is Level.NONE:
        return key, Clear(f"{POLLUTANT_NAMES[pollutant]} advisory lifted at {e.value:g}")
    severity = Severity.WARNING if e.level is Level.ADVISORY else Severity.CRITICAL
    title = f"{POLLUTANT_NAMES[pollutant]} {ADVISORY_NAMES[e.level]}: {subject}"
    return key, alert(
        rule,
        subject,
        "aq",
        severity,
        title,
        e.value,
        restate=True,  # a lowered advisory's alert reads, and weighs, as the level it is now
        observed=e.value,
        window_start=since,
        window_end=e.at,
        details={"level": e.level.name.lower(), "previous": e.previous.name.lower(), "event": e.kind},
        message=f"hourly mean {e.value:g}; {e.kind} {ADVISORY_NAMES[e.level]}",
    )


def data_event(rule: str, device_id: str, kind: str, info: tuple[int, str] | str) -> Raise:
    if rule == "device.bad_data":
        assert isinstance(info, tuple)
        n, reason = info
        return alert(
            rule,
            device_id,
            kind,
            Severity.WARNING,
            f"Device keeps sending bad data: {device_id}",
            float(n),
            observed=float(n),
            threshold=5,
            details={"top_reason": reason},
            message=f"{n} dead letters in the last hour, mostly {reason}",
        )
    return alert(rule, device_id, kind, Severity.WARNING, f"Device clock off: {device_id}", message=str(info))


def unusual_event(device_id: str, value: float, expected: float | None, z: float, hour: datetime) -> Raise:
    return alert(
        "aq.unusual",
        device_id,
        "aq",
        Severity.INFO,
        f"Unusual PM2.5 for the hour: {device_id}",
        value,
        observed=value,
        baseline=expected,
        score=z,
        window_end=hour,
        message=f"hourly PM2.5 {value:.0f} where {expected or 0:.0f} is usual at this hour (robust z {z:.1f})",
    )


def multivariate_event(device_id: str, score: float, features: dict[str, float], hour: datetime) -> Raise:
    what = ", ".join(f"{k} {v:+.1f}σ" for k, v in features.items()) or "an unusual combination"
    return alert(
        "aq.multivariate",
        device_id,
        "aq",
        Severity.INFO,
        f"Unusual pollutant mix: {device_id}",
        -score,
        score=score,
        window_end=hour,
        details={"features": features},
        message=f"isolation-forest score {score:.3f}; {what}",
    )


# a zone whose stations find their pollutant mix unusual together is breathing the same air, not
# failing station by station: one alert for the zone (as a zone outage is one alert, not a page per device)
MIX_ZONE_MIN_STATIONS = 3
MIX_ZONE_MIN_FRACTION = 0.5


def shared_mix(unusual: dict[str, Any], evaluated: int) -> bool:
    """``unusual`` stations of a zone (of ``evaluated`` with an hour of data) share one unusual hour."""
    return len(unusual) >= MIX_ZONE_MIN_STATIONS and len(unusual) >= MIX_ZONE_MIN_FRACTION * evaluated


def multivariate_zone_event(zone: str, unusual: dict[str, Any], evaluated: int, hour: datetime) -> Raise:
    """One alert for a zone whose stations' pollutant mix is unusual together; ``unusual``: station ->
    its :class:`analytics.airquality.baseline.Unusual`."""
    worst = min(u.score for u in unusual.values())
    pollutants: dict[str, int] = {}
    for u in unusual.values():
        for k in u.features:
            pollutants[k] = pollutants.get(k, 0) + 1
    common = ", ".join(f"{k} ({n})" for k, n in sorted(pollutants.items(), key=lambda x: (-x[1], x[0]))[:4])
    return alert(
        "aq.multivariate",
        f"zone:{zone}",
        "aq",
        Severity.INFO,
        f"Unusual pollutant mix across zone {zone}: {len(unusual)} of {evaluated} stations",
        -worst,
        score=worst,
        window_end=hour,
        details={
            "stations": {d: {"score": u.score, "features": u.features} for d, u in sorted(unusual.items())},
            "evaluated": evaluated,
        },
        message=f"{len(unusual)} of {evaluated} stations unusual in the same hour (shared air, not a station"
        f" fault); most named: {common or 'an unusual combination'}",
    )


def loss_event(device_id: str, kind: str, new_gaps: int, total_gaps: int) -> Raise:
    return alert(
        "device.loss",
        device_id,
        kind,
        Severity.WARNING,
        f"Messages lost from {device_id}",
        float(new_gaps),
        observed=float(new_gaps),
        details={"missing_total": total_gaps},
        message=f"{new_gaps} message(s) the device sent never arrived (sequence gaps)",
    )


def offline_event(
    device_id: str, kind: str, silent_s: float, last_seen: datetime | None, will: bool
) -> Raise:
    why = "Last Will received" if will else f"no data for {silent_s / 60:.0f} min"
    return alert(
        "device.offline",
        device_id,
        kind,
        Severity.WARNING,
        f"Device offline: {device_id}",
        silent_s,
        observed=silent_s,
        window_start=last_seen,
        details={"last_will": will},
        message=why,
    )
