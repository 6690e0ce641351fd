"""From findings to alert events (pure): rule names, severities, titles, explanations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alerts.model import Clear, Raise, Severity, alert
from analytics.airquality.advisory import Event as AdvisoryEvent
from analytics.airquality.advisory import Level
from analytics.airquality.quality import Finding
from citywatch.i18n import Text, place, render, sentences

QUALITY_SEVERITY = {
    "aq.stuck": Severity.WARNING,
    "aq.spike": Severity.INFO,
    "aq.drift": Severity.WARNING,
    "aq.range": Severity.WARNING,
}


def quality_event(f: Finding) -> tuple[str, Raise | Clear]:
    key = f"{f.rule}:{f.station}"
    if not f.active:
        return key, Clear(f.message or Text("clear.condition"))
    return key, alert(
        f.rule,
        f.station,
        "aq",
        QUALITY_SEVERITY[f.rule],
        Text(f"alert.{f.rule}", {"station": place(f.station)}),
        f.score,
        observed=f.observed,
        threshold=f.threshold,
        baseline=f.baseline,
        score=f.score,
        window_end=f.time,
        details={"metric": "pm25", **f.details},  # the quality checks watch PM2.5 (the console charts it)
        message=f.message,
    )


def advisory_severity(level: Level, confirmed_level: Level) -> Severity:
    """주의보: warning; 경보 and 중대경보: critical. A level standing on doubtful hours only (unconfirmed) is
    one severity lower, yet never below the level its episode's believable hours stand for."""

    def of(lvl: Level) -> Severity:
        return Severity.WARNING if lvl is Level.ADVISORY else Severity.CRITICAL

    if confirmed_level >= level:
        return of(level)
    lower = Severity(max(Severity.INFO, of(level) - 1))
    return max(lower, of(confirmed_level)) if confirmed_level else lower


def advisory_event(
    pollutant: str,
    subject: str,
    e: AdvisoryEvent,
    since: datetime | None,
    doubt: Text | None = None,
    excluded: dict[str, Text] | None = None,
    readings: dict[str, float] | None = None,
) -> tuple[str, Raise | Clear]:
    """The alert event of an advisory's change; ``doubt``: why the hour that moved an unconfirmed level
    is doubtful; for an area, the station ``readings`` its value is the median of, and those ``excluded``
    (station -> why)."""
    rule = f"aq.advisory.{pollutant}"
    key = f"{rule}:{subject}"
    if e.level is Level.NONE:
        return key, Clear(
            Text("clear.aq.advisory", {"pollutant": Text(f"pollutant.{pollutant}"), "value": e.value})
        )
    words = {"pollutant": Text(f"pollutant.{pollutant}"), "level": Text(f"advisory.{e.level.name.lower()}"),
             "place": place(subject)}  # fmt: skip
    confirmed_title = Text("alert.aq.advisory", words)
    details: dict[str, Any] = {
        "level": e.level.name.lower(),
        "previous": e.previous.name.lower(),
        "event": e.kind,
        "confirmed": e.confirmed,
    }
    if not e.confirmed:
        details["unconfirmed"] = render(doubt or Text("why.aq.doubtful"))
        # what an operator's confirmation makes of it (alerts.model.Confirm)
        details["if_confirmed"] = {
            "severity": int(advisory_severity(e.level, e.level)),
            "title": render(confirmed_title),
            "text": confirmed_title.as_json(),
        }
    if readings is not None:
        details["readings"] = readings
        details["excluded"] = {s: render(why) for s, why in (excluded or {}).items()}
    said = {"stat": Text("why.stat.median" if readings is not None else "why.stat.mean"), "value": e.value,
            "event": Text(f"advisory.event.{e.kind}"), "level": words["level"]}  # fmt: skip
    message = Text("why.aq.advisory" if e.confirmed else "why.aq.advisory.unconfirmed", said)
    doubted = doubt if doubt is not None and not e.confirmed else None
    left_out = [
        Text("why.aq.advisory.excluded", {"station": place(s), "why": why})
        for s, why in sorted((excluded or {}).items())
    ]
    return key, alert(
        rule,
        subject,
        "aq",
        advisory_severity(e.level, e.confirmed_level),
        confirmed_title if e.confirmed else Text("alert.aq.advisory.unconfirmed", words),
        e.value,
        restate=True,  # a lowered advisory's alert reads, and weighs, as the level it is now
        observed=e.value,
        window_start=since,
        window_end=e.at,
        details=details,
        message=sentences(message, doubted, *left_out),
    )


#: an analyser at its full scale this many hours running is stuck there (its ceiling is not the weather)
STUCK_AT_FULL_SCALE_H = 3


def saturation_event(device_id: str, reasons: dict[str, Text], hours: int, hour: datetime) -> Raise:
    """A station whose analysers (``reasons``: pollutant -> what it read) sat at their full scale in the
    hour ending at ``hour``, ``hours`` running."""
    stuck = hours >= STUCK_AT_FULL_SCALE_H
    what = ", ".join(sorted(reasons))
    return alert(
        "aq.saturation",
        device_id,
        "aq",
        Severity.WARNING,
        Text(
            "alert.aq.saturation.stuck" if stuck else "alert.aq.saturation",
            {"what": what, "station": place(device_id)},
        ),
        float(hours),
        observed=float(hours),
        window_end=hour,
        details={
            "pollutants": {p: render(why) for p, why in reasons.items()},
            "hours": hours,
            "stuck": stuck,
        },
        message=sentences(
            *(reasons[p] for p in sorted(reasons)), Text("why.aq.saturation", {"hours": hours})
        ),
    )


def data_event(rule: str, device_id: str, kind: str, info: tuple[int, str] | Text) -> Raise:
    if rule == "device.bad_data":
        assert isinstance(info, tuple)
        n, reason = info
        return alert(
            rule,
            device_id,
            kind,
            Severity.WARNING,
            Text("alert.device.bad_data", {"device": place(device_id)}),
            float(n),
            observed=float(n),
            threshold=5,
            details={"top_reason": reason},
            message=Text("why.device.bad_data", {"n": n, "reason": reason}),
        )
    return alert(
        rule,
        device_id,
        kind,
        Severity.WARNING,
        Text("alert.device.clock_skew", {"device": place(device_id)}),
        message=info if isinstance(info, Text) else str(info),
    )


def unusual_event(device_id: str, value: float, expected: float | None, z: float, hour: datetime) -> Raise:
    return alert(
        "aq.unusual",
        device_id,
        "aq",
        Severity.INFO,
        Text("alert.aq.unusual", {"station": place(device_id)}),
        value,
        observed=value,
        baseline=expected,
        score=z,
        window_end=hour,
        message=Text("why.aq.unusual", {"value": value, "expected": expected or 0, "z": z}),
    )


def multivariate_event(device_id: str, score: float, features: dict[str, float], hour: datetime) -> Raise:
    what = ", ".join(f"{k} {v:+.1f}σ" for k, v in features.items())
    return alert(
        "aq.multivariate",
        device_id,
        "aq",
        Severity.INFO,
        Text("alert.aq.multivariate", {"station": place(device_id)}),
        -score,
        score=score,
        window_end=hour,
        details={"features": features},
        message=Text(
            "why.aq.multivariate" if what else "why.aq.multivariate.combination",
            {"times": 1 - score, "what": what},
        ),
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
        Text(
            "alert.aq.multivariate.zone",
            {"zone": place(f"zone:{zone}", zone), "n": len(unusual), "of": evaluated},
        ),
        -worst,
        score=worst,
        window_end=hour,
        details={
            "stations": {d: {"score": u.score, "features": u.features} for d, u in sorted(unusual.items())},
            "evaluated": evaluated,
        },
        message=Text(
            "why.aq.multivariate.zone" if common else "why.aq.multivariate.zone.combination",
            {"n": len(unusual), "of": evaluated, "common": common},
        ),
    )


def loss_event(device_id: str, kind: str, new_gaps: int, total_gaps: int) -> Raise:
    return alert(
        "device.loss",
        device_id,
        kind,
        Severity.WARNING,
        Text("alert.device.loss", {"device": place(device_id)}),
        float(new_gaps),
        observed=float(new_gaps),
        details={"missing_total": total_gaps},
        message=Text("why.device.loss", {"n": new_gaps}),
    )


def offline_event(
    device_id: str, kind: str, silent_s: float, last_seen: datetime | None, will: bool
) -> Raise:
    why = Text("why.device.last_will") if will else Text("why.device.silent", {"minutes": silent_s / 60})
    return alert(
        "device.offline",
        device_id,
        kind,
        Severity.WARNING,
        Text("alert.device.offline", {"device": place(device_id)}),
        silent_s,
        observed=silent_s,
        window_start=last_seen,
        details={"last_will": will},
        message=why,
    )
