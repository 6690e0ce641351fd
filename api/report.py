"""The shift report as text (pure): what the outgoing shift hands over, for the shift log."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from citywatch.localtime import SEOUL


def _t(t: datetime | None, tz: ZoneInfo) -> str:
    return t.astimezone(tz).strftime("%m-%d %H:%M") if t else "—"


def _dur(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


def _involved(names: list[str], shown: int = 12) -> str:
    if not names:
        return ""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"; {len(names)}: {', '.join(names[:shown])}{more}"


def report_markdown(r: dict[str, Any], tz: ZoneInfo = SEOUL) -> str:
    """``r``: the JSON shift report (``GET /api/v1/alerts/report``). Times in the city's time zone ``tz``,
    the control room's."""

    def _at(t: datetime | None) -> str:
        return _t(t, tz)

    sev = r["opened_by_severity"]
    lines = [
        f"# Shift report {_at(r['start'])} – {_at(r['end'])} ({r['end'].astimezone(tz):%Z})",
        "",
        f"**{r['opened']} alerts opened** — critical {sev['critical']}, warning {sev['warning']}, "
        f"info {sev['info']}; {r['escalated']} escalated"
        + (f" ({r['escalated_further']} beyond level 1)" if r.get("escalated_further") else "")
        + f". Mean time to acknowledge {_dur(r['mtta_s'])}, "
        f"to resolve {_dur(r['mttr_s'])}.",
        "",
        f"## Still open ({len(r['still_open'])})",
    ]
    if r["still_open"]:
        lines += ["| # | severity | state | alert | since | assignee |", "|---|---|---|---|---|---|"]
        lines += [
            f"| {a['id']} | {a['severity']} | {a['state']} | {a['title']} | {_at(a['opened_at'])} |"
            f" {a['assignee'] or ''} |"
            for a in r["still_open"]
        ]
    else:
        lines.append("Nothing: the next shift starts clean.")
    lines += ["", "## Outages, advisories and incidents"]
    if r["episodes"]:
        lines += [
            f"- #{e['id']} {e['title']} ({e['severity']}): {_at(e['since'])} –"
            f" {_at(e['until']) if e['until'] else 'still on'}{_involved(e['involved'])}"
            for e in r["episodes"]
        ]
    else:
        lines.append("None.")
    if (load := r.get("load")) is not None:
        lines += ["", "## Alarm load (ISA-18.2 / EEMUA 191)", *load_markdown(load, tz)]
    lines += ["", "## Alerts by rule", "| rule | opened | worst | still open |", "|---|---|---|---|"]
    lines += [f"| {x['rule']} | {x['opened']} | {x['worst']} | {x['still_open']} |" for x in r["by_rule"]]
    lines += ["", "## Maintenance"]
    lines += [
        f"- #{m['id']} {m['subject']}: {m['reason']} ({_at(m['starts_at'])} – {_at(m['until'])}, {m['created_by']})"
        for m in r["maintenance"]
    ] or ["None."]
    lines += ["", "## Operators"]
    lines += [
        f"- {p['actor']}: acknowledged {p['acknowledged']}, resolved {p['resolved']}, commented {p['commented']}"
        for p in r["operators"]
    ] or ["No operator acted."]
    lines += ["", "## Notifications"]
    lines += [
        f"- {n['sink']}: sent {n['sent']}, held back by its cap {n['held_back']}, not routed {n['not_routed']}"
        for n in r["notifications"]
    ] or ["None sent."]
    return "\n".join(lines) + "\n"


def load_markdown(x: dict[str, Any], tz: ZoneInfo = SEOUL) -> list[str]:
    """The alarm-load figures (:func:`alerts.load.alarm_load`) as lines of text, times in ``tz``."""

    def _at(t: datetime | None) -> str:
        return _t(t, tz)

    mix = x["severity_mix"]
    lines = [
        f"**{x['annunciations']} annunciations**, {x['per_10min']:.2f} per 10 min ({x['rating']};"
        f" about 1 is acceptable, 2 the most manageable); peak {x['peak_10min']['annunciations']} in the 10 min"
        f" from {_at(x['peak_10min']['start'])}; {100 * x['time_in_flood']:.1f} % of the time in flood.",
        f"Of them warning or worse (the alarms, which ask an action): {x['warning_or_worse']},"
        f" {x['warning_or_worse_per_10min']:.2f} per 10 min ({x['warning_or_worse_rating']}).",
        f"Severity mix: info {100 * mix['info']:.0f} %, warning {100 * mix['warning']:.0f} %, critical"
        f" {100 * mix['critical']:.0f} % (guideline 80 / 15 / 5). Live for over 24 h: {x['stale']}.",
    ]
    lines += [
        f"- flood {_at(f['start'])} – {_at(f['end'])}: {f['annunciations']} (peak {f['peak_per_10min']} in 10 min)"
        for f in x["floods"]
    ]
    lines += [
        f"- chattering: {c['rule']} on {c['subject']}, {c['most_in_60s']} times within 60 s from {_at(c['at'])}"
        for c in x["chattering"]
    ]
    if x["top"]:
        lines += ["", "Most frequent (tune these first):", "| rule | subject | annunciations | share |",
                  "|---|---|---|---|"]  # fmt: skip
        lines += [
            f"| {t['rule']} | {t['subject']} | {t['annunciations']} | {100 * t['share']:.0f} % |"
            for t in x["top"][:5]
        ]
    return lines
