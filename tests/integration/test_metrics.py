"""Every service exports Prometheus metrics on CITYWATCH_METRICS_HOST: its own figures by Prometheus's
conventions (units in the name, ``_total`` counters) and the process's (CPU, memory, open files)."""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from boarding.service import BoardingService
from citywatch.contracts import messages as m
from citywatch.contracts.topics import DeviceKind, topic_for
from simulators.gtfs import write_feed
from simulators.publisher import Publisher
from tests.support import SECRET, Api, Platform, Subscriber, raise_alert, start_api, wait_for
from tools.localservices import free_port

PROCESS = ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "python_info")


def scrape(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def names(figures: dict[str, float]) -> set[str]:
    return {k.split("{", 1)[0] for k in figures}


def test_the_api_exports_latency_by_route_template_stream_subscribers_and_the_process(api: Api) -> None:
    port = free_port()
    server, settings = start_api(api.platform, metrics_port=port)
    url = f"http://127.0.0.1:{settings.api.port}"
    try:
        token = httpx.post(
            f"{url}/api/v1/auth/token",
            data={"username": "viewer", "password": "viewer-password-1"},
            timeout=10,
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        for alert_id in (1, 2, 3):  # three raw paths, one route
            assert httpx.get(f"{url}/api/v1/alerts/{alert_id}", headers=h, timeout=10).status_code == 404
        assert httpx.get(f"{url}/no/such/page/{uuid.uuid4()}", timeout=10).status_code == 404
        sub = Subscriber(Api(url, api.platform, settings), token)
        assert wait_for(lambda: sub.comments != [], 10)
        f = scrape(port)
        assert f['citywatch_api_stream_subscribers{stream="alerts"}'] == 1.0
        key = 'citywatch_api_request_duration_seconds_count{method="GET",route="/api/v1/alerts/{alert_id}",status="404"}'
        assert f.get(key) == 3.0, [k for k in f if "duration_seconds_count" in k]
        assert (
            f['citywatch_api_request_duration_seconds_count{method="GET",route="unmatched",status="404"}']
            == 1.0
        )
        assert not any("/api/v1/alerts/1" in k for k in f)  # never the raw path
        assert set(PROCESS) <= names(f)
        sub.close()
        # the stream ends at its next keepalive or event; a new alert is one
        raise_alert(Api(url, api.platform, settings), "aq-001")
        assert wait_for(lambda: scrape(port)['citywatch_api_stream_subscribers{stream="alerts"}'] == 0.0, 15)
    finally:
        server.stop()
        server.thread.join(10)  # type: ignore[attr-defined]
    with pytest.raises(httpx.TransportError):  # the exporter stops with the API
        scrape(port)


def test_the_boarding_bell_exports_requests_driver_alert_latency_and_the_process(
    platform: Platform, tmp_path: Path
) -> None:
    port = free_port()
    settings = platform.settings()
    settings.boarding.gtfs = write_feed(platform.city, tmp_path / "gtfs.zip")
    settings.boarding.metrics_port = port
    service = BoardingService(settings, client_id=f"boarding-{uuid.uuid4().hex[:6]}")
    t = threading.Thread(target=service.run, daemon=True)
    t.start()
    try:
        assert service.connected.wait(10)
        assert wait_for(lambda: scrape(port)["citywatch_boarding_broker_connected"] == 1.0, 10)
        route = platform.city.routes[0]
        stop = next(d for d in platform.city.of_kind(DeviceKind.STOP) if d.meta["stop_id"] == route.stops[1])
        pub = Publisher(host="127.0.0.1", port=platform.broker.port, secret=SECRET, mode="gateway")
        pub.open([])
        req = m.StopRequest(
            device_id=stop.device_id, ts=datetime.now(UTC), seq=0, request_id=f"r-{uuid.uuid4().hex[:8]}",
            stop_id=stop.meta["stop_id"], route_id=route.route_id, passengers=1, source="button",
        )  # fmt: skip
        pub.send_raw(topic_for(DeviceKind.STOP, stop.device_id), m.to_json(req))
        pub.send_raw(topic_for(DeviceKind.STOP, stop.device_id), b"{not json")
        assert pub.flush(10)
        pub.close()
        assert wait_for(
            lambda: scrape(port).get('citywatch_boarding_messages_total{stream="request"}') == 2.0, 10
        )
        f = scrape(port)
        assert f['citywatch_boarding_messages_invalid_total{stream="request"}'] == 1.0
        updates = {k: v for k, v in f.items() if k.startswith("citywatch_boarding_request_updates_total")}
        assert sum(updates.values()) >= 1  # the request was assigned to a bus, or refused with a reason
        assert "citywatch_boarding_driver_alert_seconds_count" in f
        assert set(PROCESS) <= names(f)
        for name in names(f):  # Prometheus's naming conventions
            assert re.fullmatch(r"[a-z_]+", name), name
    finally:
        service.stop()
        t.join(10)
    time.sleep(0.1)
    with pytest.raises(httpx.TransportError):
        scrape(port)
