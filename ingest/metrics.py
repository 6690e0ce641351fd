"""Prometheus metrics of one ingest worker (own registry, no globals)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from citywatch import metrics


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = metrics.registry()
        r = self.registry
        self.received = Counter(
            "citywatch_ingest_received",
            "readings received and committed (one per message, one per reading of a gateway pack)",
            registry=r,
        )
        self.written = Counter(
            "citywatch_ingest_written", "rows written to stream tables", ["table"], registry=r
        )
        self.duplicates = Counter(
            "citywatch_ingest_duplicates", "redelivered messages not written again", registry=r
        )
        self.dead_letters = Counter(
            "citywatch_ingest_dead_letters", "messages dead-lettered", ["reason"], registry=r
        )
        self.gaps = Gauge(
            "citywatch_ingest_sequence_gaps_delta",
            "net change in missing sequence numbers seen by this worker",
            registry=r,
        )
        self.batch_seconds = Histogram(
            "citywatch_ingest_batch_seconds",
            "time to commit a batch",
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.batch_size = Histogram(
            "citywatch_ingest_batch_size",
            "messages per batch",
            registry=r,
            buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000, 10000, 20000),
        )
        self.lag_seconds = Histogram(
            "citywatch_ingest_lag_seconds",
            "longest receive-to-commit wait in a batch",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.queue_depth = Gauge(
            "citywatch_ingest_queue_depth", "messages waiting for the writer", registry=r
        )
        self.db_errors = Counter("citywatch_ingest_db_errors", "failed batch writes (retried)", registry=r)
        self.connected = Gauge(
            "citywatch_ingest_broker_connected", "1 while connected to the broker", registry=r
        )
