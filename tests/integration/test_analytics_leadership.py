"""Two analytics instances on one database (a standby, or one started by mistake): only one works at a
time, alerts are raised and notified once, and when the active one goes — cleanly, or because its
database session is cut — the other takes over from the saved state."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import psycopg

from analytics.service import AnalyticsService
from citywatch.contracts.topics import DeviceKind
from citywatch.leadership import Leadership
from simulators.publisher import Publisher
from tests.support import SECRET, IngestThread, Platform, Sink, fire, fire_alerts, wait_for


def start(p: Platform, sink: Sink) -> tuple[AnalyticsService, threading.Thread]:
    settings = p.settings()
    settings.analytics.poll_s = 0.5
    svc = AnalyticsService(settings, sink=sink)
    t = threading.Thread(target=svc.run, daemon=True)
    t.start()
    return svc, t


def test_one_instance_works_the_other_takes_over(platform: Platform) -> None:
    p = platform
    cams = p.city.of_kind(DeviceKind.CCTV)[:3]
    sink_a, sink_b = Sink(), Sink()
    with IngestThread(p.settings()):
        pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
        pub.open([])
        a, ta = start(p, sink_a)
        assert wait_for(lambda: a.active, 10)
        b, tb = start(p, sink_b)
        time.sleep(1.5)
        assert not b.active and b.steps == 0  # standing by
        fire(p, pub, cams[0].device_id, cams[0].zone, 0)
        assert wait_for(lambda: fire_alerts(p) == [(cams[0].device_id, 1)], 15), fire_alerts(p)
        assert wait_for(lambda: len(sink_a.got) >= 1, 10)
        assert b.steps == 0 and sink_b.got == []

        # the active instance's database session is cut (a network partition, a killed backend)
        with psycopg.connect(p.db_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name LIKE 'citywatch-leader:citywatch-analytics:%' AND datname = current_database()"
            )
        assert wait_for(lambda: a.active != b.active and (a.active or b.active), 10)
        assert not (a.active and b.active)
        fire(p, pub, cams[1].device_id, cams[1].zone, 1)
        assert wait_for(lambda: len(fire_alerts(p)) == 2, 15), fire_alerts(p)

        # the active one stops for good: the other carries on from the saved state
        first, other = (a, b) if a.active else (b, a)
        first.stop()
        (ta if first is a else tb).join(15)
        assert wait_for(lambda: other.active, 10)
        fire(p, pub, cams[2].device_id, cams[2].zone, 2)
        assert wait_for(lambda: len(fire_alerts(p)) == 3, 15), fire_alerts(p)
        other.stop()
        (tb if other is b else ta).join(15)
        pub.close()
    # one alert per camera, and each notified once in all (whichever instance delivered it)
    assert fire_alerts(p) == sorted((c.device_id, 1) for c in cams)
    assert len(sink_a.got) + len(sink_b.got) == p.count("SELECT count(*) FROM alert_outbox")


def test_the_lock_is_per_name_and_released_with_the_session(db_url: str) -> None:
    one, two, other = Leadership(db_url, "x"), Leadership(db_url, "x"), Leadership(db_url, "y")
    assert one.hold() and not two.hold() and other.hold()
    assert one.hold()  # still held, and checked
    one.close()
    assert two.hold() and not one.hold()
    for lead in (one, two, other):
        lead.close()


def test_both_instances_serve_metrics_and_tell_the_same_alert_figures(platform: Platform) -> None:
    import httpx

    from alerts import store
    from alerts.model import Explanation, Raise, Severity
    from tools.localservices import free_port

    p = platform
    now = datetime.now(UTC)
    with psycopg.connect(p.db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO maintenance (subject, starts_at, ends_at, reason, created_by)"
            " VALUES ('aq-001', now() - interval '1 minute', now() + interval '1 hour', 'swap', 'op')"
        )
        for subject, sev in (("aq-001", Severity.WARNING), ("cam-x", Severity.CRITICAL)):
            store.apply(conn, Raise("x.rule", subject, "aq", sev, subject, Explanation("x.rule")), now)
    services = []
    for _ in range(2):
        settings = p.settings()
        settings.analytics.poll_s = 0.5
        settings.analytics.metrics_port = free_port()
        svc = AnalyticsService(settings, sink=Sink())
        threading.Thread(target=svc.run, daemon=True).start()
        services.append((svc, settings.analytics.metrics_port))
    assert wait_for(
        lambda: sum(s.active for s, _ in services) == 1 and all(s.steps or not s.active for s, _ in services),
        15,
    )

    def scrape(port: int) -> dict[str, float]:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        return {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line and not line.startswith("#")
        }

    try:
        assert wait_for(
            lambda: any(scrape(port).get("citywatch_analytics_steps_total", 0) >= 1 for _, port in services),
            10,
        )
        figures = [scrape(port) for _, port in services]
        for f in figures:
            assert f['citywatch_alerts_live{severity="critical",state="open"}'] == 1
            assert f['citywatch_alerts_live{severity="warning",state="open"}'] == 1
            assert f["citywatch_alerts_muted"] == 1 and f["citywatch_maintenance_windows_active"] == 1
            assert f['citywatch_notifications_undelivered{sink="mqtt"}'] in (
                0,
                1,
            )  # the critical one, until sent
            assert 0 <= f['citywatch_notifications_oldest_undelivered_seconds{sink="mqtt"}'] < 60
            assert f['citywatch_notifications_held_back{sink="mqtt"}'] == 0
        assert sorted(f["citywatch_analytics_active"] for f in figures) == [0.0, 1.0]
    finally:
        for svc, _ in services:
            svc.stop()
