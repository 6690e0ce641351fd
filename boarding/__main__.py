"""`python -m boarding`: the boarding-bell service until SIGINT/SIGTERM."""

from __future__ import annotations

import signal

from boarding.service import BoardingService
from citywatch import logs
from citywatch.db import features
from citywatch.db.migrate import migrate
from citywatch.settings import Settings


def main() -> None:
    logs.setup()
    settings = Settings()
    migrate(settings.db.url)
    features.apply(settings.db.url)
    service = BoardingService(settings)
    signal.signal(signal.SIGINT, lambda *_: service.stop())
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    service.run()


if __name__ == "__main__":
    main()
