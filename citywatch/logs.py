"""Readable operator logs: time, level, component, message."""

from __future__ import annotations

import logging
import os


def setup(level: str | None = None) -> None:
    logging.basicConfig(
        level=(level or os.environ.get("CITYWATCH_LOG_LEVEL", "INFO")).upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    # Libraries' per-request chatter (every HTTP call of a probe or a webhook) drowns what matters.
    for noisy in ("paho", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
