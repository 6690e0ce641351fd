"""The shift report as text (pure): what the outgoing shift hands over, for the shift log, in the reader's
language (the web pages' catalogue, ``api/web/messages.json``: the same words as the report page)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo


class _Words:
    """The catalogue's texts of one language, filled in: ``words("report.title")``."""

    def __init__(self, messages: Mapping[str, str], tz: ZoneInfo) -> None:
        self.messages, self.tz = messages, tz

    def __call__(self, key: str, **params: Any) -> str:
        return self.messages[key].format(**params)

    def at(self, t: datetime | None) -> str:
        return t.astimezone(self.tz).strftime("%m-%d %H:%M") if t else "—"

    def duration(self, s: float | None) -> str:
        if s is None:
            return "—"
        return self("report.minutes", n=f"{s / 60:.0f}") if s < 5400 else self("report.md.hours", n=s / 3600)

    def label(self, kind: str, value: str) -> str:
        """A severity, a state or a load rating (as the API writes them) in the reader's words."""
        return self.messages.get(f"{kind}.{value.replace(' ', '_').replace('-', '_')}", value)


def _involved(w: _Words, names: list[str], shown: int = 12) -> str:
    if not names:
        return ""
    listed = ", ".join(names[:shown])
    if len(names) > shown:
        return w("report.md.involved_more", n=len(names), names=listed, more=len(names) - shown)
    return w("report.md.involved", n=len(names), names=listed)


def report_markdown(r: dict[str, Any], tz: ZoneInfo, messages: Mapping[str, str]) -> str:
    """``r``: the JSON shift report (``GET /api/v1/alerts/report``); ``messages``: the web catalogue's texts of
    the reader's language. Times in the city's time zone ``tz``, the control room's."""
    w = _Words(messages, tz)
    sev = r["opened_by_severity"]
    further = w("report.md.further", n=r["escalated_further"]) if r.get("escalated_further") else ""
    span = w("report.range", start=w.at(r["start"]), end=w.at(r["end"]), tz=r["end"].astimezone(tz).tzname())
    lines = [
        f"# {w('report.title')} {span}",
        "",
        w("report.md.head", opened=r["opened"], critical=sev["critical"], warning=sev["warning"], info=sev["info"],
          escalated=r["escalated"], further=further, mtta=w.duration(r["mtta_s"]), mttr=w.duration(r["mttr_s"])),
        "",
        f"## {w('report.still_open', n=len(r['still_open']))}",
    ]  # fmt: skip
    if r["still_open"]:
        cols = (
            "#",
            w("col.severity"),
            w("col.state"),
            w("col.title"),
            w("report.since"),
            w("report.md.assignee"),
        )
        lines += ["| " + " | ".join(cols) + " |", "|---|---|---|---|---|---|"]
        lines += [
            f"| {a['id']} | {w.label('severity', a['severity'])} | {w.label('state', a['state'])} | {a['title']} |"
            f" {w.at(a['opened_at'])} | {a['assignee'] or ''} |"
            for a in r["still_open"]
        ]
    else:
        lines.append(w("report.md.clean"))
    lines += ["", f"## {w('report.episodes')}"]
    lines += [
        f"- #{e['id']} {e['title']} ({w.label('severity', e['severity'])}): {w.at(e['since'])} –"
        f" {w.at(e['until']) if e['until'] else w('report.ongoing')}{_involved(w, e['involved'])}"
        for e in r["episodes"]
    ] or [w("report.none")]
    if (load := r.get("load")) is not None:
        lines += ["", f"## {w('report.md.load')}", *_load(w, load)]
    by_rule = (w("report.md.rule"), w("report.opened"), w("report.worst"), w("report.open_now"))
    lines += ["", f"## {w('report.by_rule')}", "| " + " | ".join(by_rule) + " |", "|---|---|---|---|"]
    lines += [
        f"| {x['rule']} | {x['opened']} | {w.label('severity', x['worst'])} | {x['still_open']} |"
        for x in r["by_rule"]
    ]
    lines += ["", f"## {w('report.md.maintenance')}"]
    lines += [
        f"- #{m['id']} {m['subject']}: {m['reason']} ({w.at(m['starts_at'])} – {w.at(m['until'])},"
        f" {m['created_by']})"
        for m in r["maintenance"]
    ] or [w("report.none")]
    lines += ["", f"## {w('report.people')}"]
    lines += [w("report.md.person", **p) for p in r["operators"]] or [w("report.md.nobody")]
    lines += ["", f"## {w('report.notifications')}"]
    lines += [w("report.md.sink", **n) for n in r["notifications"]] or [w("report.none")]
    return "\n".join(lines) + "\n"


def _load(w: _Words, x: dict[str, Any]) -> list[str]:
    """The alarm-load figures (:func:`alerts.load.alarm_load`) as lines of text."""
    mix, peak = x["severity_mix"], x["peak_10min"]
    lines = [
        w("report.md.load_rate", n=x["annunciations"], rate=x["per_10min"], rating=w.label("load", x["rating"]),
          peak=peak["annunciations"], peak_at=w.at(peak["start"]), flood=100 * x["time_in_flood"]),
        w("report.md.load_urgent", n=x["warning_or_worse"], rate=x["warning_or_worse_per_10min"],
          rating=w.label("load", x["warning_or_worse_rating"])),
        w("report.md.load_mix", info=100 * mix["info"], warning=100 * mix["warning"],
          critical=100 * mix["critical"], stale=x["stale"]),
    ]  # fmt: skip
    lines += [
        w("report.md.flood", start=w.at(f["start"]), end=w.at(f["end"]), n=f["annunciations"],
          peak=f["peak_per_10min"])
        for f in x["floods"]
    ]  # fmt: skip
    lines += [
        w("report.md.chattering", rule=c["rule"], subject=c["subject"], n=c["most_in_60s"], at=w.at(c["at"]))
        for c in x["chattering"]
    ]
    if x["top"]:
        cols = (w("report.md.rule"), w("col.subject"), w("report.md.annunciations"), w("report.md.share"))
        lines += ["", w("report.md.top"), "| " + " | ".join(cols) + " |", "|---|---|---|---|"]
        lines += [
            f"| {t['rule']} | {t['subject']} | {t['annunciations']} | {100 * t['share']:.0f} % |"
            for t in x["top"][:5]
        ]
    return lines
