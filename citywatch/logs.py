"""Operator logs: time with its UTC offset, level, component, message. ``CITYWATCH_LOG_FORMAT=json`` writes
one JSON object per line instead (``time``, ``level``, ``logger``, ``message``, ``exception``), for a log
collector."""

from __future__ import annotations

import logging
import os
from datetime import datetime

import orjson

FORMATS = ("text", "json")


def _when(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


class Text(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _when(record)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": _when(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out).decode()


def setup(level: str | None = None, fmt: str | None = None) -> None:
    fmt = (fmt or os.environ.get("CITYWATCH_LOG_FORMAT", "text")).lower()
    if fmt not in FORMATS:
        raise ValueError(f"CITYWATCH_LOG_FORMAT={fmt!r}: one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if fmt == "json" else Text())
    logging.basicConfig(
        level=(level or os.environ.get("CITYWATCH_LOG_LEVEL", "INFO")).upper(), handlers=[handler]
    )
    # Libraries' per-request chatter (every HTTP call of a probe or a webhook) drowns what matters.
    for noisy in ("paho", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
