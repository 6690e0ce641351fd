"""Prometheus exposition shared by every service: a registry with the process's own figures, and its
HTTP endpoint on ``CITYWATCH_METRICS_HOST`` (127.0.0.1 by default; 0.0.0.0 in containers, where
Prometheus scrapes from another one)."""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

log = logging.getLogger(__name__)


def registry() -> CollectorRegistry:
    """A service's own registry (no globals), with the process, Python platform and GC collectors:
    ``process_cpu_seconds_total``, ``process_resident_memory_bytes``, open files, start time."""
    r = CollectorRegistry()
    ProcessCollector(registry=r)
    PlatformCollector(registry=r)
    GCCollector(registry=r)
    return r


def serve(r: CollectorRegistry, host: str, port: int | None, what: str) -> WSGIServer | None:
    """Serve ``r`` on ``host:port`` (None or 0: not at all) until the server returned is shut down. A port
    already taken (another instance on this host) is logged, and the service runs without metrics."""
    if not port:
        return None
    try:
        server, _thread = start_http_server(port, addr=host, registry=r)
    except OSError as e:
        log.warning(
            "%s: metrics port %s:%d unavailable (%s); running without metrics", what, host, port, e.strerror
        )
        return None
    log.info("%s: metrics on http://%s:%d/metrics", what, host, port)
    return server


def stop(server: WSGIServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
