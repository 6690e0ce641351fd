"""The shift report as text (pure): what the outgoing shift hands over, for the shift log."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

KST = ZoneInfo("Asia/Seoul")


def _t(t: datetime | None) -> str:
    return t.astimezone(KST).strftime("%m-%d %H:%M") if t else "—"


def _dur(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


def report_markdown(r: dict[str, Any]) -> str:
    """``r``: the JSON shift report (``GET /api/v1/alerts/report``). Times in KST, the control room's."""
    sev = r["opened_by_severity"]
    lines = [
        f"# Shift report {_t(r['start'])} – {_t(r['end'])} (KST)",
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
            f"| {a['id']} | {a['severity']} | {a['state']} | {a['title']} | {_t(a['opened_at'])} |"
            f" {a['assignee'] or ''} |"
            for a in r["still_open"]
        ]
    else:
        lines.append("Nothing: the next shift starts clean.")
    lines += ["", "## Outages, advisories and incidents"]
    if r["episodes"]:
        lines += [
            f"- {e['title']} ({e['severity']}): {_t(e['since'])} – {_t(e['until']) if e['until'] else 'still on'}"
            for e in r["episodes"]
        ]
    else:
        lines.append("None.")
    lines += ["", "## Alerts by rule", "| rule | opened | worst | still open |", "|---|---|---|---|"]
    lines += [f"| {x['rule']} | {x['opened']} | {x['worst']} | {x['still_open']} |" for x in r["by_rule"]]
    lines += ["", "## Maintenance"]
    lines += [
        f"- #{m['id']} {m['subject']}: {m['reason']} ({_t(m['starts_at'])} – {_t(m['until'])}, {m['created_by']})"
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
