"""Grafana's SQL macros and template variables, expanded as Grafana's PostgreSQL datasource does
(with the TimescaleDB option on), so that tests can run every panel's SQL on the real database."""

from __future__ import annotations

import re
from datetime import datetime

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def interval_seconds(text: str) -> int:
    m = re.fullmatch(r"'?(\d+)([smhd])'?", text.strip())
    if not m:
        raise ValueError(f"not an interval: {text!r}")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _lit(t: datetime) -> str:
    return f"'{t.isoformat()}'"


def expand(sql: str, start: datetime, end: datetime, interval_s: int, variables: dict[str, list[str]]) -> str:
    """``variables``: each template variable's selected values (multi-value: several)."""
    out = sql.replace("$__interval_ms", str(interval_s * 1000)).replace("$__interval", f"{interval_s}s")

    def time_group(m: re.Match[str], alias: bool) -> str:
        col, iv = (p.strip() for p in m.group(1).split(",")[:2])
        expr = f"time_bucket('{interval_seconds(iv)}s', {col})"
        return f'{expr} AS "time"' if alias else expr

    out = re.sub(r"\$__timeGroupAlias\(([^)]*)\)", lambda m: time_group(m, True), out)
    out = re.sub(r"\$__timeGroup\(([^)]*)\)", lambda m: time_group(m, False), out)
    out = re.sub(
        r"\$__timeFilter\(([^)]*)\)",
        lambda m: f"{m.group(1).strip()} BETWEEN {_lit(start)} AND {_lit(end)}",
        out,
    )
    out = out.replace("$__timeFrom()", _lit(start)).replace("$__timeTo()", _lit(end))
    for name in sorted(variables, key=len, reverse=True):
        quoted = ",".join("'" + v.replace("'", "''") + "'" for v in variables[name]) or "NULL"
        out = (
            out.replace(f"${{{name}:sqlstring}}", quoted)
            .replace(f"${{{name}}}", quoted)
            .replace(f"${name}", quoted)
        )
    if "$" in re.sub(r"\$\d", "", out.replace("$$", "")):
        leftover = re.findall(r"\$[A-Za-z_{][A-Za-z_0-9}]*", out)
        if leftover:
            raise ValueError(f"unexpanded macro or variable: {leftover}")
    return out
