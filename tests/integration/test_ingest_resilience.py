"""Ingest across a broker restart and a clean shutdown."""

from __future__ import annotations

import time

import pytest

from simulators.engine import simulate
from simulators.publisher import Publisher
from tests.support import SECRET, Platform, wait_for


def publish(p: Platform, start: float, end: float, seed: int) -> int:
    pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
    pub.open([])
    pub.run(
        simulate(p.city, start, end, seed=seed, first_seq=seed * 100_000),
        speed=float("inf"),
        progress_every=0,
    )
    assert pub.flush(30)
    pub.close()
    return pub.sent["data"]


@pytest.mark.slow
def test_broker_restart_subscription_restored_nothing_lost(platform: Platform, run_ingest) -> None:  # type: ignore[no-untyped-def]
    end = time.time() - 60
    with run_ingest(platform.settings()) as service:
        first = publish(platform, end - 7200, end - 3600, seed=1)
        assert wait_for(lambda: platform.stored() == first, 30)
        generation = service.subscriber.generation
        platform.broker.restart()
        assert wait_for(lambda: service.subscriber.generation > generation, 40), "ingest did not reconnect"
        second = publish(platform, end - 3600, end, seed=2)
        assert wait_for(lambda: platform.stored() == first + second, 30), (platform.stored(), first + second)
    assert int(platform.scalar("SELECT sum(written) FROM ingest_counters")) == first + second  # type: ignore[call-overload]


def test_clean_shutdown_commits_and_acknowledges_what_it_holds(platform: Platform, run_ingest) -> None:  # type: ignore[no-untyped-def]
    end = time.time() - 60
    settings = platform.settings(batch_max_rows=100_000, batch_max_wait_s=60.0, client_id="ingest-clean")
    with run_ingest(settings) as service:
        sent = publish(platform, end - 1800, end, seed=3)
        assert wait_for(lambda: service.inbound >= sent, 20)
        assert platform.stored() == 0  # still held in the batch window
    assert platform.stored() == sent  # stop() flushed it
    with run_ingest(settings):  # same session: nothing is redelivered, because everything was acknowledged
        time.sleep(1.0)
    dups = int(platform.scalar("SELECT sum(duplicates) FROM ingest_counters"))  # type: ignore[call-overload]
    assert dups == 0
    assert platform.stored() == sent


@pytest.mark.slow
def test_database_outage_holds_messages_unacknowledged_then_catches_up(  # type: ignore[no-untyped-def]
    platform: Platform, run_ingest, pg
) -> None:
    end = time.time() - 60
    with run_ingest(platform.settings(client_id="ingest-dbdown")) as service:
        first = publish(platform, end - 7200, end - 3600, seed=4)
        assert wait_for(lambda: platform.stored() == first, 30)
        pg.stop()
        try:
            second = publish(platform, end - 3600, end, seed=5)
            assert wait_for(lambda: service.metrics.db_errors._value.get() >= 2, 30)  # retrying, not crashing
            assert (
                service.totals.received == first
            )  # nothing of the second half was committed or acknowledged
        finally:
            pg.start()
        assert wait_for(lambda: platform.stored() == first + second, 60), (platform.stored(), first + second)
    assert int(platform.scalar("SELECT sum(duplicates) FROM ingest_counters")) == 0  # type: ignore[call-overload]
