"""Analytics workers share the city: each leases a fair share of its partitions (zones, and ``city``
for the citywide work); a second worker takes half; a dead worker's partitions are taken over; every
alert is raised and notified once, whichever worker evaluates its zone."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from analytics.partitions import AnalyticsWorker, fair_share, plan
from citywatch.contracts.topics import DeviceKind
from simulators.publisher import Publisher
from tests.support import SECRET, IngestThread, Platform, Sink, fire, fire_alerts, wait_for

PARTS = ["city", "zone:a", "zone:b", "zone:c", "zone:d"]


@pytest.mark.parametrize(
    ("held", "share", "release", "tries"),
    [
        (set(), 5, [], PARTS),  # alone: everything
        (set(PARTS), 3, ["zone:c", "zone:d"], []),  # a second worker arrived: let the last go
        ({"zone:a", "zone:b"}, 3, [], ["city", "zone:c", "zone:d"]),  # below the share: try the free ones
        ({"zone:a", "zone:b", "city"}, 3, [], []),  # at the share: nothing to do
        ({"zone:a", "zone:gone"}, 3, ["zone:gone"], ["city", "zone:b", "zone:c", "zone:d"]),  # a zone removed
    ],
)
def test_plan(held: set[str], share: int, release: list[str], tries: list[str]) -> None:
    assert plan(held, PARTS, share) == (release, tries)


def test_fair_share() -> None:
    assert [fair_share(17, n) for n in (0, 1, 2, 3, 4)] == [17, 17, 9, 6, 5]


def start(p: Platform, name: str, sink: Sink) -> tuple[AnalyticsWorker, threading.Thread]:
    settings = p.settings()
    settings.analytics.poll_s = 0.5
    w = AnalyticsWorker(settings, sink=sink, worker_id=name)
    t = threading.Thread(target=w.run, daemon=True)
    t.start()
    return w, t


def test_two_workers_split_the_city_and_one_takes_over_from_the_other(platform: Platform) -> None:
    p = platform
    with psycopg.connect(p.db_url, autocommit=True) as conn:
        n_parts = 2 + conn.execute("SELECT count(*) FROM zones").fetchone()[0]  # type: ignore[index]
    sink_a, sink_b = Sink(), Sink()
    with IngestThread(p.settings()):
        pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
        pub.open([])
        a, ta = start(p, "a", sink_a)
        assert wait_for(lambda: len(a.engines) == n_parts, 10)  # alone: the whole city
        b, tb = start(p, "b", sink_b)
        # the two split it: disjoint halves that cover every partition
        assert wait_for(
            lambda: abs(len(a.engines) - len(b.engines)) <= 1 and len(a.engines) + len(b.engines) == n_parts,
            20,
        ), (sorted(a.engines), sorted(b.engines))
        assert not set(a.engines) & set(b.engines)
        # a camera in a zone of each worker: each fire is one alert
        cams = p.city.of_kind(DeviceKind.CCTV)
        of_a = next(c for c in cams if f"zone:{c.zone}" in a.engines)
        of_b = next(c for c in cams if f"zone:{c.zone}" in b.engines)
        fire(p, pub, of_a.device_id, of_a.zone, 0)
        fire(p, pub, of_b.device_id, of_b.zone, 1)
        assert wait_for(lambda: len(fire_alerts(p)) == 2, 15), fire_alerts(p)
        # worker a dies: its session is cut and it stops; b takes the whole city over
        a_zones = set(a.engines)
        a.stop()
        with psycopg.connect(p.db_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'citywatch-analytics-worker:a' AND datname = current_database()"
            )
        ta.join(15)
        assert wait_for(lambda: len(b.engines) == n_parts, 20), sorted(b.engines)
        again = next(c for c in cams if f"zone:{c.zone}" in a_zones and c.device_id != of_a.device_id)
        fire(p, pub, again.device_id, again.zone, 2)
        assert wait_for(lambda: len(fire_alerts(p)) == 3, 15), fire_alerts(p)
        assert wait_for(lambda: len(sink_a.got) + len(sink_b.got) >= 3, 10)  # the three fires notified
        time.sleep(1.0)
        b.stop()
        tb.join(15)
        pub.close()
    assert all(n == 1 for _subject, n in fire_alerts(p))
    # every notification delivered, once in all, by whichever worker held "city" at the time
    delivered = p.count(
        "SELECT count(*) FROM alert_deliveries WHERE delivered_at IS NOT NULL AND sink = 'mqtt'"
    )
    assert delivered == len(sink_a.got) + len(sink_b.got)


def test_a_worker_serves_its_metrics(platform: Platform) -> None:
    import httpx

    from tools.localservices import free_port

    settings = platform.settings()
    settings.analytics.poll_s = 0.5
    settings.analytics.metrics_port = port = free_port()
    w = AnalyticsWorker(settings, sink=Sink(), worker_id="m")
    threading.Thread(target=w.run, daemon=True).start()
    try:
        assert wait_for(lambda: w.rounds >= 2, 15)

        def figure(name: str) -> float:
            for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text.splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[-1])
            raise AssertionError(f"{name} not served")

        assert figure("citywatch_analytics_partitions_held") == len(w.engines) >= 2  # alone: the whole city
        assert figure("citywatch_analytics_active") == 1 and figure("citywatch_analytics_steps_total") >= 2
        assert figure('citywatch_notifications_undelivered{sink="mqtt"}') >= 0
    finally:
        w.stop()
