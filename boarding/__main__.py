"""`python -m boarding`: the boarding-bell service until SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import threading

import psycopg

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
    with psycopg.connect(settings.db.url, autocommit=True) as conn:

        def uploaded() -> bool:
            return conn.execute("SELECT 1 FROM transit_feeds LIMIT 1").fetchone() is not None

        if not wait_for_feed(gtfs_path(settings), stop, feed_check_s, uploaded):
            return
    service = BoardingService(settings)
    signal.signal(signal.SIGINT, lambda *_: service.stop())
    signal.signal(signal.SIGTERM, lambda *_: service.stop())
    service.run()


if __name__ == "__main__":
    main()
