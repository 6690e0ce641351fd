"""`python -m analytics`: the analytics service until SIGINT/SIGTERM, or a range re-evaluation."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from alerts.mqtt import AlertPublisher
from analytics.broker_log import BrokerLog
from analytics.partitions import AnalyticsWorker
from analytics.service import AnalyticsService
from citywatch import logs, mqtt
from citywatch.db import schema
from citywatch.settings import Settings


def _parse(t: str) -> datetime:
    d = datetime.fromisoformat(t)
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _with_progress_bar(service: AnalyticsService, work: Callable[[], int]) -> int:
    """Run a re-evaluation with a progress bar on a terminal (the log says how far it got otherwise)."""
    if not sys.stderr.isatty():
        return work()
    try:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    except ImportError:  # pragma: no cover - rich comes with typer
        return work()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("re-evaluating", total=100)
        service.progress = lambda text, done: bar.update(task, completed=100 * done, description=text)
        n = work()
        bar.update(task, completed=100)
        return n


def main(start: str | None = None, end: str | None = None) -> None:
    logs.setup()
    settings = Settings()
    schema.ready(settings.db.url)
    sink = AlertPublisher(mqtt.as_platform(settings, "citywatch-analytics"))
    broker_log = None
    if start is None:  # the live service watches what the broker says of the devices it turns away
        broker_log = BrokerLog(
            mqtt.as_platform(settings, "citywatch-analytics-broker-log"),
            file=settings.analytics.broker_log_file,
        )
        broker_log.start()
    service = AnalyticsService(settings, sink=sink, broker_log=broker_log)
    try:
        if start is not None:
            t0, t1 = _parse(start), _parse(end) if end else datetime.now(UTC)
            n = _with_progress_bar(service, lambda: service.evaluate_range(t0, t1))
            print(
                f"re-evaluated {n} air-quality readings from {t0.isoformat()} to {t1.isoformat()}",
                file=sys.stderr,
            )
            return
        runner: AnalyticsService | AnalyticsWorker = service
        if settings.analytics.partitioned:
            service.conn.close()
            runner = AnalyticsWorker(settings, sink=sink, broker_log=broker_log)
        signal.signal(signal.SIGINT, lambda *_: runner.stop())
        signal.signal(signal.SIGTERM, lambda *_: runner.stop())
        runner.run()
    finally:
        sink.close()
        if broker_log is not None:
            broker_log.close()


if __name__ == "__main__":
    main()
