"""Two ingest workers on an MQTT shared subscription split the load; every
message is stored exactly once."""

from __future__ import annotations

import time

from simulators.engine import simulate
from simulators.publisher import Publisher
from tests.support import SECRET, Platform, wait_for


def test_two_workers_split_the_load(platform: Platform, run_ingest) -> None:  # type: ignore[no-untyped-def]
    a = platform.settings(client_id="ingest-a", shared_group="ingest")
    b = platform.settings(client_id="ingest-b", shared_group="ingest")
    with run_ingest(a), run_ingest(b):
        pub = Publisher(host="127.0.0.1", port=platform.broker.port, secret=SECRET, mode="gateway")
        pub.open([])
        end = time.time() - 60
        pub.run(simulate(platform.city, end - 2 * 3600, end, seed=5), speed=float("inf"), progress_every=0)
        assert pub.flush(30)
        sent = pub.sent["data"]
        assert wait_for(lambda: platform.stored() >= sent, 30)
        time.sleep(0.3)
    per_worker = dict(platform.query("SELECT worker, received FROM ingest_counters"))
    assert set(per_worker) == {"ingest-a", "ingest-b"}
    assert all(int(n) > sent * 0.2 for n in per_worker.values()), per_worker  # type: ignore[call-overload]
    assert sum(int(n) for n in per_worker.values()) == sent  # type: ignore[call-overload]
    assert platform.stored() == sent
