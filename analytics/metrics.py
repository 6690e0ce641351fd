"""Prometheus metrics of the analytics service (own registry, no globals).

The service's own figures (steps, their time and failures, whether this instance is the active one, how
far behind the data its evaluation is) are kept as it works; the alert figures (live alerts by severity
and state, muted ones, active maintenance windows, notifications each sink has not yet accepted) are read
from the database when Prometheus scrapes, so every instance, active or standing by, tells the same truth.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

import psycopg
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from alerts import outbox, queries
from alerts.model import Severity
from alerts.routing import sink_label
from citywatch import metrics

log = logging.getLogger(__name__)


class AlertFigures(Collector):
    """Read at scrape time, on a short connection of its own (scrapes come from another thread)."""

    def __init__(self, conninfo: str, sinks: Callable[[], Sequence[str]]) -> None:
        self.conninfo, self.sinks = conninfo, sinks

    def collect(self) -> Iterator[GaugeMetricFamily]:
        live = GaugeMetricFamily("citywatch_alerts_live", "alerts not resolved", labels=["severity", "state"])
        muted = GaugeMetricFamily("citywatch_alerts_muted", "live alerts muted by a maintenance window")
        windows = GaugeMetricFamily("citywatch_maintenance_windows_active", "maintenance windows in force")
        pending = GaugeMetricFamily(
            "citywatch_notifications_undelivered",
            "notifications a sink has not accepted yet (muted and refused ones excepted)",
            labels=["sink"],
        )
        held = GaugeMetricFamily(
            "citywatch_notifications_held_back",
            "notifications held back by a sink's max_per_hour, to be counted in its next digest",
            labels=["sink"],
        )
        oldest = GaugeMetricFamily(
            "citywatch_notifications_oldest_undelivered_seconds",
            "age of the oldest notification a sink has not accepted yet (0: none waiting)",
            labels=["sink"],
        )
        try:
            with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                counts, n_muted, n_windows, held_back = queries.live_counts(conn, datetime.now(UTC))
                for sev, state, n in counts:
                    live.add_metric([Severity(sev).label, state], n)
                muted.add_metric([], n_muted)
                windows.add_metric([], n_windows)
                for sink in self.sinks():
                    n, age = outbox.pending(conn, sink)
                    label = sink_label(sink)  # (a webhook's path and query may hold its token)
                    pending.add_metric([label], n)
                    oldest.add_metric([label], age or 0.0)
                    held.add_metric([label], held_back.get(sink, 0))
        except psycopg.Error as e:  # the scrape still answers, with the service's own figures
            log.warning("metrics: alert figures unavailable (%s)", str(e).strip().splitlines()[0])
            return
        yield from (live, muted, windows, pending, oldest, held)


class AnalyticsMetrics:
    def __init__(self, conninfo: str, sinks: Callable[[], Sequence[str]]) -> None:
        self.registry = metrics.registry()
        r = self.registry
        self.steps = Counter("citywatch_analytics_steps", "evaluation steps done", registry=r)
        self.step_errors = Counter(
            "citywatch_analytics_step_errors", "evaluation steps failed (database errors)", registry=r
        )
        self.step_seconds = Histogram(
            "citywatch_analytics_step_seconds",
            "time of one evaluation step",
            registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.active = Gauge(
            "citywatch_analytics_active", "1 if this instance is the active one, 0 standing by", registry=r
        )
        self.behind = Gauge(
            "citywatch_analytics_behind_seconds",
            "how far the evaluated data is behind now (the lateness allowance included)",
            registry=r,
        )
        self.partitions = Gauge(
            "citywatch_analytics_partitions_held",
            "partitions this worker evaluates (partitioned mode; the whole city counts as one otherwise)",
            registry=r,
        )
        r.register(AlertFigures(conninfo, sinks))

    def evaluated_up_to(self, *cursors: datetime | None) -> None:
        """The slowest of the cursors (one per partition held)."""
        known = [c for c in cursors if c is not None]
        if known:
            self.behind.set((datetime.now(UTC) - min(known)).total_seconds())


def sink_names(webhook_urls: list[str], mqtt: bool) -> list[str]:
    """The outbox sinks of an instance, by name, as the dispatcher names them."""
    return (["mqtt"] if mqtt else []) + [f"webhook:{u}" for u in webhook_urls]
