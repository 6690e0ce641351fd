"""Prometheus metrics of the API: request latency by route, live-stream subscribers, and the process.

Served on their own port (``CITYWATCH_API_METRICS_PORT``, on ``CITYWATCH_METRICS_HOST``), not on the
API's, which faces operators and the internet. Latency is measured to the response's start (for a
live stream: until it opens), labelled by the route's template (``/api/v1/alerts/{alert_id}``), never
by the raw path, so the series stay few.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import Gauge, Histogram

from citywatch import metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = metrics.registry()
        self.request_seconds = Histogram(
            "citywatch_api_request_duration_seconds",
            "time from a request's arrival to its response's start, by route template",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.stream_subscribers = Gauge(
            "citywatch_api_stream_subscribers",
            "live Server-Sent Events streams open (alerts: operators' consoles; driver: bus terminals)",
            ["stream"],
            registry=self.registry,
        )

    @asynccontextmanager
    async def subscribed(self, stream: str) -> AsyncIterator[None]:
        """Count a live stream while it is open."""
        g = self.stream_subscribers.labels(stream)
        g.inc()
        try:
            yield
        finally:
            g.dec()


def route_of(scope: Scope) -> str:
    """The matched route's template with the prefix it is included under (``/api/v1`` + ``/alerts/{alert_id}``);
    the console's static files as one; anything unmatched as one. FastAPI gives the route as its router
    declared it: the include prefix is the raw path's segments before the template's (a path parameter
    matches one segment)."""
    template = getattr(scope.get("route"), "path", None)
    path = str(scope.get("path", ""))
    if isinstance(template, str):
        segments = path.rstrip("/").split("/")
        return "/".join(segments[: len(segments) - template.rstrip("/").count("/")]) + template
    if path.startswith("/web/"):
        return "/web/{file}"
    return "unmatched"


class RequestTimer:
    """ASGI middleware that observes every HTTP request in ``ApiMetrics.request_seconds``."""

    def __init__(self, app: ASGIApp, m: ApiMetrics) -> None:
        self.app, self.m = app, m

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        observed = False

        async def timed_send(message: Message) -> None:
            nonlocal observed
            if message["type"] == "http.response.start" and not observed:
                observed = True
                self.m.request_seconds.labels(
                    scope["method"], route_of(scope), str(message["status"])
                ).observe(time.perf_counter() - t0)
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            if not observed:  # the app failed before answering (the server answers 500)
                self.m.request_seconds.labels(scope["method"], route_of(scope), "500").observe(
                    time.perf_counter() - t0
                )
