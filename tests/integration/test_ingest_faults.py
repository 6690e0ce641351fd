"""Ingest survives being killed and being away: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from citywatch.broker import BrokerLimits
from citywatch.devices import broker_accounts
from simulators.engine import simulate
from simulators.publisher import Publisher
from tests.support import SECRET, Platform, wait_for
from tools.bench.common import metric
from tools.localservices import MosquittoBroker, free_port


def ingest_process(p: Platform, client_id: str, metrics_port: int | None = None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CITYWATCH_DB_URL": p.db_url,
        "CITYWATCH_MQTT_PORT": str(p.broker.port),
        "CITYWATCH_DEVICE_SECRET": SECRET,
        "CITYWATCH_INGEST_CLIENT_ID": client_id,
        "CITYWATCH_INGEST_METRICS_PORT": str(metrics_port or free_port()),
        "CITYWATCH_INGEST_BATCH_MAX_ROWS": "500",
        "CITYWATCH_INGEST_BATCH_MAX_WAIT_S": "0.05",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "ingest"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def publish_history(p: Platform, hours: float, speed: float = float("inf")) -> Publisher:
    pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
    pub.open([])
    end = time.time() - 60
    pub.run(simulate(p.city, end - hours * 3600, end, seed=3), speed=speed, progress_every=0)
    assert pub.flush(60)
    return pub


@pytest.mark.slow
def test_kill_9_mid_stream_loses_and_duplicates_nothing(platform: Platform) -> None:
    port = free_port()
    proc = ingest_process(platform, "ingest-kill", port)

    def consuming() -> bool:  # this process is connected to the broker (its own metric)
        return metric(port, "citywatch_ingest_broker_connected") == 1.0

    try:
        assert wait_for(consuming, 30)
        time.sleep(0.3)  # subscribed
        result: list[Publisher] = []
        t = threading.Thread(target=lambda: result.append(publish_history(platform, 12.0, speed=3000.0)))
        t.start()
        kills = 0
        for _ in range(3):  # kill it three times while messages flow, each time once it is consuming
            before = platform.stored()
            assert wait_for(lambda b=before: platform.stored() > b, 30)  # type: ignore[misc]
            time.sleep(0.4)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            proc = ingest_process(platform, "ingest-kill", port)
            assert wait_for(consuming, 30)
        t.join(120)
        pub = result[0]
        sent = pub.sent["data"]
        assert sent > 10_000
        assert wait_for(lambda: platform.stored() >= sent, 90), (platform.stored(), sent)
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert kills == 3
    assert platform.stored() == sent  # nothing lost
    assert platform.distinct_stored() == sent  # nothing stored twice
    received, written, dups = (
        int(x)
        for x in platform.query(  # type: ignore[call-overload]
            "SELECT sum(received), sum(written), sum(duplicates) FROM ingest_counters"
        )[0]
    )
    assert written == sent
    assert received == written + dups  # redeliveries after each kill were counted, not stored


@pytest.mark.slow
@pytest.mark.parametrize(
    ("limits", "lossless"),
    [
        (BrokerLimits(), True),
        (BrokerLimits(max_queued_messages=1000, max_inflight_messages=20), False),  # Mosquitto's defaults
    ],
    ids=["citywatch-config", "mosquitto-defaults"],
)
def test_outage_longer_than_default_queue(  # type: ignore[no-untyped-def]
    platform: Platform, run_ingest, limits: BrokerLimits, lossless: bool, workdir
) -> None:
    broker = MosquittoBroker(workdir / f"mq-outage-{limits.max_queued_messages}", free_port(), SECRET, limits)
    broker.write_config(broker_accounts(platform.db_url))
    broker.start()
    p = Platform(platform.db_url, broker, platform.city)
    try:
        settings = p.settings(client_id="ingest-outage")
        with run_ingest(settings):
            pass  # the persistent session now exists; ingest goes away
        pub = publish_history(p, 2.0)  # thousands of messages while ingest is down
        sent = pub.sent["data"]
        assert sent > 3 * 1000
        with run_ingest(settings):
            wait_for(lambda: p.stored() >= sent, 30 if lossless else 5)
            time.sleep(0.5)
        if lossless:
            assert p.stored() == sent
        else:
            assert p.stored() < sent  # the default queue drops the backlog: why the config matters
    finally:
        broker.stop()
