"""Alarm load (pure): is the control room being spammed? The performance measures of alarm management
(ANSI/ISA-18.2 and EEMUA 191), over what reached the operators in a time range.

An *annunciation* is an alert opening or re-opening while not muted by maintenance, or one still live
when the maintenance that muted it ends (it is notified then): what makes an operator look. Escalations,
reminders and severity changes re-notify an alert already shown, and are not counted again. Figures,
per operator (``operators`` sharing the load: 1 by default; a desk — a kind of device, a zone — is chosen
by what is passed in; :func:`alerts.queries.annunciations` reads them):

- the rate: mean annunciations per 10 minutes (and per hour, per day); EEMUA 191 and ISA-18.2 call about
  1 per 10 minutes *very likely acceptable*, about 2 the most that is *manageable*, more *over-demanding*;
  and the same for those of warning or worse alone (the alarms, which ask an action, without the
  information that does not);
- the peak 10 minutes, and **floods**: a flood starts in a 10-minute interval with more than 10 and lasts
  while the intervals after it have at least 5 (ISA-18.2's "more than 10 per 10 minutes, ending below 5");
  the share of time in flood should stay under about 1 %;
- the **most frequent** alerts (rule + subject: the "bad actors" to tune first) and their share of the
  whole; ISA-18.2 aims for the top 10 under 1–5 %;
- **chattering** alerts: 3 or more annunciations of the same rule and subject within 60 s;
- the **severity mix** against the guideline of about 80 % info, 15 % warning, 5 % critical: when
  everything is critical, nothing is;
- **stale** alerts: live (not resolved) for more than 24 h at the end of the range.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts.model import Severity

# ISA-18.2 / EEMUA 191 guideline figures
INTERVAL = timedelta(minutes=10)
ACCEPTABLE_PER_INTERVAL = 1.0  # "very likely acceptable"
MANAGEABLE_PER_INTERVAL = 2.0  # "maximum manageable"
FLOOD_STARTS_ABOVE = 10  # annunciations in one interval
FLOOD_LASTS_FROM = 5  # a flood goes on while an interval has at least this many
CHATTER_COUNT, CHATTER_WINDOW = 3, timedelta(seconds=60)
STALE_AFTER = timedelta(hours=24)
TOP_N = 10
SEVERITY_GUIDE = {"info": 0.80, "warning": 0.15, "critical": 0.05}


@dataclass(frozen=True, slots=True)
class Annunciation:
    at: datetime
    alert_id: int
    rule: str
    subject: str
    severity: Severity
    kind: str = ""  # of the device or area the alert is about: a desk


def rating(per_interval: float) -> str:
    """The long-term average rate, in the words of EEMUA 191 / ISA-18.2."""
    if per_interval <= ACCEPTABLE_PER_INTERVAL:
        return "very likely acceptable"
    if per_interval <= MANAGEABLE_PER_INTERVAL:
        return "manageable"
    return "over-demanding"


def interval_start(t: datetime) -> datetime:
    """The start of the clock's 10-minute interval holding ``t`` (:00, :10, … : the intervals of a report
    line up with the clock, whatever its range)."""
    return t - (t - datetime(2000, 1, 1, tzinfo=t.tzinfo)) % INTERVAL


def floods(counts: Sequence[int], start: datetime) -> list[dict[str, Any]]:
    """Flood episodes in per-interval ``counts`` (interval 0 starting at ``start``), each from the start of
    its first interval to the end of its last."""
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(counts):
        if counts[i] <= FLOOD_STARTS_ABOVE:
            i += 1
            continue
        j = i + 1
        while j < len(counts) and counts[j] >= FLOOD_LASTS_FROM:
            j += 1
        out.append(
            {
                "start": start + i * INTERVAL,
                "end": start + j * INTERVAL,
                "annunciations": sum(counts[i:j]),
                "peak_per_10min": max(counts[i:j]),
            }
        )
        i = j
    return out


def chattering(items: Iterable[Annunciation]) -> list[dict[str, Any]]:
    """Rule + subject pairs annunciated ``CHATTER_COUNT`` or more times within ``CHATTER_WINDOW``: the most
    in one window, and when that window began."""
    by_key: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for a in items:
        by_key[(a.rule, a.subject)].append(a.at)
    out = []
    for (rule, subject), times in by_key.items():
        times.sort()
        window: deque[datetime] = deque()
        most, at = 0, times[0]
        for t in times:
            window.append(t)
            while t - window[0] > CHATTER_WINDOW:
                window.popleft()
            if len(window) > most:
                most, at = len(window), window[0]
        if most >= CHATTER_COUNT:
            out.append({"rule": rule, "subject": subject, "most_in_60s": most, "at": at})
    return sorted(out, key=lambda c: (-c["most_in_60s"], c["rule"], c["subject"]))


def alarm_load(
    items: Iterable[Annunciation],
    start: datetime,
    end: datetime,
    live_since: Iterable[datetime] = (),
    operators: int = 1,
) -> dict[str, Any]:
    """The alarm-load figures of the annunciations in [``start``, ``end``); ``live_since``: when each alert
    still live at ``end`` opened (for the stale count). The guidelines are per operator: with ``operators``
    sharing the load, the rates, the peak and the flood thresholds are per operator."""
    if end <= start:
        raise ValueError("end must be after start")
    if operators < 1:
        raise ValueError("operators must be at least 1")
    got = sorted((a for a in items if start <= a.at < end), key=lambda a: a.at)
    origin = interval_start(start)
    n_intervals = max(1, -(-(end - origin) // INTERVAL))  # the first and last may be partial
    total = [0] * n_intervals
    for a in got:
        total[(a.at - origin) // INTERVAL] += 1
    counts = [-(-n // operators) for n in total]  # per operator (rounded up: a share is a whole alert)
    span = (end - start) / INTERVAL
    per_interval = len(got) / span / operators
    peak = max(range(n_intervals), key=total.__getitem__)
    flooded = floods(counts, origin)  # per operator; what they held, for the whole centre
    for f in flooded:
        i, j = (f["start"] - origin) // INTERVAL, (f["end"] - origin) // INTERVAL
        f["annunciations"], f["peak_per_10min"] = sum(total[i:j]), max(total[i:j])
    in_flood = sum((min(f["end"], end) - max(f["start"], start) for f in flooded), timedelta()) / INTERVAL
    per_key = Counter((a.rule, a.subject) for a in got)
    top: list[dict[str, Any]] = [
        {"rule": r, "subject": s, "annunciations": k, "share": round(k / len(got), 4)}
        for (r, s), k in sorted(per_key.items(), key=lambda x: (-x[1], x[0]))[:TOP_N]
    ]
    by_sev = Counter(a.severity.label for a in got)
    urgent = sum(1 for a in got if a.severity >= Severity.WARNING)  # ISA-18.2's alarms: they ask an action
    urgent_rate = urgent / span / operators
    return {
        "start": start,
        "end": end,
        "annunciations": len(got),
        "operators": operators,
        "per_10min": round(per_interval, 3),
        "per_hour": round(per_interval * 6, 2),
        "per_day": round(per_interval * 144, 1),
        "rating": rating(per_interval),
        "warning_or_worse": urgent,
        "warning_or_worse_per_10min": round(urgent_rate, 3),
        "warning_or_worse_rating": rating(urgent_rate),
        "peak_10min": {"annunciations": total[peak], "start": origin + peak * INTERVAL},
        "floods": flooded,
        "time_in_flood": round(min(1.0, in_flood / span), 4),
        "top": top,
        "top_share": round(sum(t["annunciations"] for t in top) / len(got), 4) if got else 0.0,
        "chattering": chattering(got),
        "severity_mix": {s: round(by_sev[s] / len(got), 4) if got else 0.0 for s in SEVERITY_GUIDE},
        "severity_guide": SEVERITY_GUIDE,
        "stale": sum(1 for t in live_since if end - t > STALE_AFTER),
    }
