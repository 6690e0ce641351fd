"""`python -m analytics`: the analytics service until SIGINT/SIGTERM, or a range re-evaluation."""

from __future__ import annotations

import signal
import sys
from datetime import UTC, datetime

from alerts.mqtt import AlertPublisher
from analytics.partitions import AnalyticsWorker
from analytics.service import AnalyticsService
from citywatch import broker, logs
from citywatch.db import features
from citywatch.db.migrate import migrate
from citywatch.settings import Settings


def _parse(t: str) -> datetime:
    d = datetime.fromisoformat(t)
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def main(start: str | None = None, end: str | None = None) -> None:
    logs.setup()
    settings = Settings()
    migrate(settings.db.url)
    features.apply(settings.db.url)
    sink = AlertPublisher(
        host=settings.mqtt.host,
        port=settings.mqtt.port,
        username=broker.PLATFORM_USER,
        password=broker.derive_password(settings.device_secret.get_secret_value(), broker.PLATFORM_USER),
        client_id="citywatch-analytics",
        tls_ca=settings.mqtt.tls_ca,
    )
    service = AnalyticsService(settings, sink=sink)
    try:
        if start is not None:
            t0, t1 = _parse(start), _parse(end) if end else datetime.now(UTC)
            n = service.evaluate_range(t0, t1)
            print(
                f"re-evaluated {n} air-quality readings from {t0.isoformat()} to {t1.isoformat()}",
                file=sys.stderr,
            )
            return
        runner: AnalyticsService | AnalyticsWorker = service
        if settings.analytics.partitioned:
            service.conn.close()
            runner = AnalyticsWorker(settings, sink=sink)
        signal.signal(signal.SIGINT, lambda *_: runner.stop())
        signal.signal(signal.SIGTERM, lambda *_: runner.stop())
        runner.run()
    finally:
        sink.close()


if __name__ == "__main__":
    main()
