"""`python -m boarding`: the boarding-bell service until SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import threading

from boarding.service import BoardingService, gtfs_path, wait_for_feed
from citywatch import logs
from citywatch.db import schema
from citywatch.settings import Settings


def main(feed_check_s: float = 30.0) -> None:
    logs.setup()
    settings = Settings()
    schema.ready(settings.db.url)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if not wait_for_feed(gtfs_path(settings), stop, feed_check_s):
        return
    service = BoardingService(settings)
    signal.signal(signal.SIGINT, lambda *_: service.stop())
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    service.run()


if __name__ == "__main__":
    main()
