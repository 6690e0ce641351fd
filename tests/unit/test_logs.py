"""Operator logs: text with an offset on every timestamp, or one JSON object per line for a collector."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime

import orjson

SCRIPT = """
import logging
from citywatch import logs
logs.setup()
logging.getLogger("citywatch.test").warning("주의보 발령: %s", "pm25")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("citywatch.test").exception("failed")
"""


def run(fmt: str, tz: str = "Asia/Seoul") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CITYWATCH_LOG_FORMAT": fmt, "TZ": tz}
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=30)


def test_json_lines_one_object_a_line_with_the_offset() -> None:
    out = run("json")
    assert out.returncode == 0, out.stderr
    lines = [orjson.loads(line) for line in out.stderr.splitlines()]
    assert [(r["level"], r["logger"], r["message"]) for r in lines] == [
        ("WARNING", "citywatch.test", "주의보 발령: pm25"),
        ("ERROR", "citywatch.test", "failed"),
    ]
    assert "ZeroDivisionError" in lines[1]["exception"] and "exception" not in lines[0]
    assert all(datetime.fromisoformat(r["time"]).utcoffset().total_seconds() == 9 * 3600 for r in lines)  # type: ignore[union-attr]


def test_text_lines_carry_the_offset_too() -> None:
    out = run("text")
    first = out.stderr.splitlines()[0]
    stamp, level, rest = first.split(" ", 2)
    assert datetime.fromisoformat(stamp).utcoffset().total_seconds() == 9 * 3600  # type: ignore[union-attr]
    assert level == "WARNING" and rest.strip() == "citywatch.test: 주의보 발령: pm25"


def test_an_unknown_format_is_refused() -> None:
    out = run("xml")
    assert out.returncode != 0 and "CITYWATCH_LOG_FORMAT='xml': one of text, json" in out.stderr
