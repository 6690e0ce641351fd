"""`python -m ingest`: run one ingest worker until SIGINT/SIGTERM."""

from __future__ import annotations

import signal
from types import FrameType

from citywatch import logs, runtime
from citywatch.db import schema
from citywatch.settings import Settings
from ingest.service import IngestService


def main() -> None:
    logs.setup()
    settings = Settings()
    schema.ready(settings.db.url)
    service = IngestService(settings)
    runtime.tune_gc()  # after start-up: what exists now is frozen out of the collector's sight

    def _stop(signum: int, _frame: FrameType | None) -> None:
        service.stop()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    service.run()


if __name__ == "__main__":
    main()
