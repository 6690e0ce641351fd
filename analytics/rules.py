"""From findings to alert events (pure): rule names, severities, titles, explanations."""

from __future__ import annotations

from datetime import datetime

from alerts.model import Clear, Explanation, Raise, Severity
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
    expl = Explanation(
        rule=f.rule,
        observed=f.observed,
        threshold=f.threshold,
        baseline=f.baseline,
        score=f.score,
        window_end=f.time,
        details=f.details,
        message=f.message,
    )
    return key, Raise(
        f.rule,
        f.station,
        "aq",
        QUALITY_SEVERITY[f.rule],
        f"{QUALITY_TITLE[f.rule]}: {f.station}",
        expl,
        f.score,
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
    expl = Explanation(
        rule=rule,
        observed=e.value,
        window_start=since,
        window_end=e.at,
        details={"level": e.level.name.lower(), "previous": e.previous.name.lower(), "event": e.kind},
        message=f"hourly mean {e.value:g}; {e.kind} {ADVISORY_NAMES[e.level]}",
    )
    return key, Raise(rule, subject, "aq", severity, title, expl, e.value)


def data_event(rule: str, device_id: str, kind: str, info: tuple[int, str] | str) -> Raise:
    if rule == "device.bad_data":
        assert isinstance(info, tuple)
        n, reason = info
        return Raise(
            rule,
            device_id,
            kind,
            Severity.WARNING,
            f"Device keeps sending bad data: {device_id}",
            Explanation(
                rule=rule,
                observed=float(n),
                threshold=5,
                details={"top_reason": reason},
                message=f"{n} dead letters in the last hour, mostly {reason}",
            ),
            float(n),
        )
    return Raise(
        rule,
        device_id,
        kind,
        Severity.WARNING,
        f"Device clock off: {device_id}",
        Explanation(rule=rule, message=str(info)),
    )


def unusual_event(device_id: str, value: float, expected: float | None, z: float, hour: datetime) -> Raise:
    return Raise(
        "aq.unusual",
        device_id,
        "aq",
        Severity.INFO,
        f"Unusual PM2.5 for the hour: {device_id}",
        Explanation(
            rule="aq.unusual",
            observed=value,
            baseline=expected,
            score=z,
            window_end=hour,
            message=f"hourly PM2.5 {value:.0f} where {expected or 0:.0f} is usual at this hour"
            f" (robust z {z:.1f})",
        ),
        value,
    )


def multivariate_event(device_id: str, score: float, features: dict[str, float], hour: datetime) -> Raise:
    what = ", ".join(f"{k} {v:+.1f}σ" for k, v in features.items()) or "an unusual combination"
    return Raise(
        "aq.multivariate",
        device_id,
        "aq",
        Severity.INFO,
        f"Unusual pollutant mix: {device_id}",
        Explanation(
            rule="aq.multivariate",
            score=score,
            window_end=hour,
            details={"features": features},
            message=f"isolation-forest score {score:.3f}; {what}",
        ),
        -score,
    )


def loss_event(device_id: str, kind: str, new_gaps: int, total_gaps: int) -> Raise:
    return Raise(
        "device.loss",
        device_id,
        kind,
        Severity.WARNING,
        f"Messages lost from {device_id}",
        Explanation(
            rule="device.loss",
            observed=float(new_gaps),
            details={"missing_total": total_gaps},
            message=f"{new_gaps} message(s) the device sent never arrived (sequence gaps)",
        ),
        float(new_gaps),
    )


def offline_event(
    device_id: str, kind: str, silent_s: float, last_seen: datetime | None, will: bool
) -> Raise:
    why = "Last Will received" if will else f"no data for {silent_s / 60:.0f} min"
    return Raise(
        "device.offline",
        device_id,
        kind,
        Severity.WARNING,
        f"Device offline: {device_id}",
        Explanation(
            rule="device.offline",
            observed=silent_s,
            window_start=last_seen,
            message=why,
            details={"last_will": will},
        ),
        silent_s,
    )
