"""The alerts' runtime, as a service that raises alerts hosts it: the writer that applies events under
their policies (:mod:`alerts.writer`), the supervisor that escalates, reminds, mutes and watches the
sinks (:mod:`alerts.supervisor`), and the dispatcher that delivers notifications from the outbox to
the sinks (:mod:`alerts.outbox`: MQTT and the settings' webhooks), routed by the rules file.

The analytics service hosts it (its active instance: one dispatcher per city); it reconfigures it when
the rules file changes, and starts or stops the dispatcher as it gains or loses the leadership.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from alerts import outbox
from alerts.config import AlertRules
from alerts.supervisor import Supervisor
from alerts.webhook import Webhook
from alerts.writer import AlertWriter


def sinks_from(
    mqtt: outbox.Sink | None, webhook_urls: list[str], webhook_secret: str | None
) -> dict[str, outbox.Sink]:
    """The outbox's sinks by name: ``mqtt`` (when given), and ``webhook:{url}`` for each URL."""
    sinks: dict[str, outbox.Sink] = {"mqtt": mqtt} if mqtt is not None else {}
    for url in webhook_urls:
        sinks[f"webhook:{url}"] = Webhook(url, secret=webhook_secret)
    return sinks


class AlertRuntime:
    def __init__(
        self,
        db_url: str,
        conn: Callable[[], psycopg.Connection[Any]],
        rules: Callable[[], AlertRules],
        sinks: dict[str, outbox.Sink],
    ) -> None:
        self.writer = AlertWriter(conn, rules)
        self.dispatcher = outbox.Dispatcher(db_url, sinks, routes=rules().notifications)
        self.supervisor = Supervisor(self.writer, lambda: self.dispatcher.sinks)

    def reconfigure(self, rules: AlertRules) -> None:
        """The rules file changed: route notifications by its new routes (policies are read per event)."""
        self.dispatcher.routes = rules.notifications
