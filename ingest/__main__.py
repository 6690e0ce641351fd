"""`python -m ingest`: run one ingest worker until SIGINT/SIGTERM."""

from __future__ import annotations

import signal
from types import FrameType

from citywatch import logs
from citywatch.db import features
from citywatch.db.migrate import migrate
from citywatch.settings import Settings
from ingest.service import IngestService


def main() -> None:
    logs.setup()
    settings = Settings()
    migrate(settings.db.url)
    features.apply(settings.db.url)
    service = IngestService(settings)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        service.stop()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    service.run()


if __name__ == "__main__":
    main()
