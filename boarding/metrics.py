"""Prometheus metrics of the boarding bell (own registry, no globals)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

from citywatch import metrics


class BoardingMetrics:
    def __init__(self, records_waiting: Callable[[], float]) -> None:
        self.registry = r = metrics.registry()
        self.messages = Counter(
            "citywatch_boarding_messages",
            "messages handled, by stream (request, position, ack)",
            ["stream"],
            registry=r,
        )
        self.invalid = Counter(
            "citywatch_boarding_messages_invalid",
            "messages the bell could not read (ingest dead-letters them with the reason)",
            ["stream"],
            registry=r,
        )
        self.requests = Counter(
            "citywatch_boarding_request_updates",
            "stop requests' changes of state: assigned (matched to a bus), fulfilled, cancelled, expired, rejected",
            ["status"],
            registry=r,
        )
        self.driver_alert_seconds = Histogram(
            "citywatch_boarding_driver_alert_seconds",
            "from a stop request's press (the panel's clock) to its bus's terminal being told",
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
        )
        self.connected = Gauge(
            "citywatch_boarding_broker_connected", "1 while connected to the broker", registry=r
        )
        waiting = Gauge(
            "citywatch_boarding_records_waiting", "decisions not yet written to the database", registry=r
        )
        waiting.set_function(records_waiting)
