"""Simulator -> Mosquitto -> ingest -> TimescaleDB -> analytics -> alerts, end to end."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alerts.mqtt import AlertPublisher
from analytics.service import AnalyticsService
from citywatch import broker, mqtt
from citywatch.devices import broker_accounts
from simulators.behaviours import Episode
from simulators.city import Scale, build_city
from simulators.engine import Fault, simulate
from simulators.provision import register_city
from simulators.publisher import Publisher
from tests.support import SECRET, Platform, wait_for

CITY = Scale(stations=16, lots=1, spaces_per_lot=3, cameras=2, routes=1, stops_per_route=3, buses_per_route=1)


@pytest.fixture
def city_platform(db_url: str, mosquitto) -> Platform:  # type: ignore[no-untyped-def]
    city = build_city(9, CITY)
    register_city(db_url, city)
    mosquitto.write_config(broker_accounts(db_url))
    mosquitto.start()
    return Platform(db_url, mosquitto, city)


def alerts(p: Platform) -> list[tuple[str, str, str, int]]:
    return [
        (str(r), str(s), str(st), int(sev))
        for r, s, st, sev in p.query(  # type: ignore[call-overload]
            "SELECT rule, subject, state, severity FROM alerts ORDER BY id"
        )
    ]


def same_time_of_day(hour_utc: int) -> datetime:
    """The latest ``hour_utc``:00 UTC at least 5 minutes ago. A simulated day starting from it has the same
    diurnal cycle and the same hour boundaries on every run, so the zone's hourly medians (and which of
    them pass a threshold) do not depend on the time of day the test runs at."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    end = now.replace(hour=hour_utc, minute=0, second=0, microsecond=0)
    return end if end <= now else end - timedelta(days=1)


@pytest.mark.slow
def test_stuck_sensor_and_pollution_episode(city_platform: Platform, run_ingest) -> None:  # type: ignore[no-untyped-def]
    p = city_platform
    end = same_time_of_day(14)
    start = end - timedelta(hours=8)
    t0, t1 = start.timestamp(), end.timestamp()
    stuck = Fault("stuck", "aq-005", t0 + 3 * 3600, t0 + 5 * 3600)
    episode = Episode(("jangan",), t0 + 2.5 * 3600, t0 + 6.5 * 3600, 9.0)
    with run_ingest(p.settings()):
        pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
        pub.open([])
        pub.run(
            simulate(p.city, t0, t1, seed=9, faults=[stuck], episodes=[episode]),
            speed=float("inf"),
            progress_every=0,
        )
        assert pub.flush(30)
        assert wait_for(
            lambda: p.count("SELECT coalesce(sum(received),0) FROM ingest_counters") >= pub.sent["data"], 60
        )
    service = AnalyticsService(p.settings())
    service.evaluate_range(start - timedelta(minutes=1), end)
    got = alerts(p)
    # the stuck sensor: one alert, resolved by itself when the fault ended
    assert ("aq.stuck", "aq-005", "resolved", 2) in got
    # the episode: an advisory for the zone and its stations, one long-lived alert each, lifted afterwards
    jangan = {d.device_id for d in p.city.of_kind(p.city.devices[0].kind) if d.zone == "jangan"}
    advisories = {s for r, s, _st, _sev in got if r == "aq.advisory.pm25"}
    assert "zone:jangan" in advisories
    assert advisories - {"zone:jangan"} <= jangan
    assert len([a for a in got if a[0] == "aq.advisory.pm25" and a[1] == "zone:jangan"]) == 1
    # no sensor fault blamed on the stations that merely breathed the episode
    faults = [(r, s) for r, s, _st, _sev in got if r in ("aq.stuck", "aq.spike", "aq.drift", "aq.range")]
    assert faults == [("aq.stuck", "aq-005")], p.query(
        "SELECT rule, subject, opened_at, explanation->>'score', explanation->>'message' FROM alerts"
        " WHERE rule LIKE 'aq.s%%'"
    )
    # CAI per station and hour, with the episode visible
    worst = p.query(
        "SELECT max(cai) FROM aq_hourly a JOIN devices d USING (device_id) WHERE d.zone_id = 'jangan'"
    )
    calm = p.query(
        "SELECT max(cai) FROM aq_hourly a JOIN devices d USING (device_id) WHERE d.zone_id = 'yeongtong'"
    )
    assert worst[0][0] > calm[0][0]  # type: ignore[operator]
    # every alert explains itself and has an audit trail
    for (expl,) in p.query("SELECT explanation FROM alerts"):
        assert expl["rule"] and expl["message"]  # type: ignore[index]
    assert (
        p.count(
            "SELECT count(*) FROM alerts a WHERE NOT EXISTS (SELECT 1 FROM alert_audit u WHERE u.alert_id = a.id)"
        )
        == 0
    )
    # re-running the same range does not duplicate anything
    before = p.query("SELECT id, count, state FROM alerts ORDER BY id")
    service.evaluate_range(start - timedelta(minutes=1), end)
    assert p.query("SELECT id, count, state FROM alerts ORDER BY id") == before, p.query(
        "SELECT id, rule, subject, state, opened_at, title FROM alerts WHERE id > %s",
        max(r[0] for r in before),
    )


def watch_alerts(p: Platform, name: str) -> tuple[list[dict[str, object]], paho.Client, AlertPublisher]:
    """What a live consumer of the alert topic hears (``got``), and the analytics' MQTT sink."""
    got: list[dict[str, object]] = []
    watcher = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{name}")
    watcher.username_pw_set(broker.PLATFORM_USER, broker.derive_password(SECRET, broker.PLATFORM_USER))
    watcher.on_message = lambda _c, _u, m: got.append(orjson.loads(m.payload))
    watcher.connect("127.0.0.1", p.broker.port)
    watcher.subscribe("cw/v1/alerts/#", qos=1)
    watcher.loop_start()
    sink = AlertPublisher(mqtt.as_platform(p.settings(), f"alerts-{name}"))
    return got, watcher, sink


def test_offline_by_last_will_then_back_with_live_notification(city_platform: Platform, run_ingest) -> None:  # type: ignore[no-untyped-def]
    p = city_platform
    got, watcher, sink = watch_alerts(p, "lwt")
    cam = next(d for d in p.city.devices if d.device_id == "cam-001")
    with run_ingest(p.settings()):
        pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="device")
        pub.open([cam])
        assert wait_for(
            lambda: p.count("SELECT count(*) FROM device_status WHERE device_id = 'cam-001'") == 1, 10
        )
        service = AnalyticsService(p.settings(), sink=sink)
        service.step()
        assert alerts(p) == []
        from simulators.engine import Out

        pub.send(
            Out(time.time(), "cam-001", cam.kind, "", b"", "offline")
        )  # the camera dies: the broker sends its will
        assert wait_for(
            lambda: p.count("SELECT count(*) FROM device_status WHERE device_id = 'cam-001'") == 2, 10
        )
        service.step()
        assert alerts(p) == []  # a Last Will waits a minute: it may be the first of a zone going dark
        later = timedelta(seconds=61)
        service.step(datetime.now(UTC) + later)
        service.alerts.dispatcher.drain_once()
        assert alerts(p) == [("device.offline", "cam-001", "open", 2)]
        assert wait_for(lambda: any(n["what"] == "opened" and n["subject"] == "cam-001" for n in got), 10)
        pub.send(Out(time.time(), "cam-001", cam.kind, "", b"", "online"))  # back, with fresh data
        pub.run(
            simulate(p.city.__class__(p.city.seed, [cam], [], {}, []), time.time() - 30, time.time(), seed=1),
            speed=float("inf"),
            progress_every=0,
        )
        assert wait_for(
            lambda: p.count("SELECT count(*) FROM cctv_events") > 0
            or p.count("SELECT count(*) FROM device_status WHERE device_id = 'cam-001'") >= 3,
            10,
        )
        service.step(datetime.now(UTC) + later)
        service.alerts.dispatcher.drain_once()
        assert [a for a in alerts(p) if a[0] == "device.offline"] == [
            ("device.offline", "cam-001", "resolved", 2)
        ]
        assert wait_for(lambda: any(n["what"] == "auto_resolved" for n in got), 10)
        pub.close()
    sink.close()
    watcher.loop_stop()
    undelivered = p.count(
        "SELECT count(*) FROM alert_outbox o WHERE NOT EXISTS (SELECT 1 FROM alert_deliveries d"
        " WHERE d.outbox_id = o.id AND d.sink = 'mqtt' AND d.delivered_at IS NOT NULL)"
    )
    assert undelivered == 0


@pytest.mark.slow
def test_a_zone_going_dark_is_one_outage_not_a_page_per_device(city_platform: Platform, run_ingest) -> None:  # type: ignore[no-untyped-def]
    from simulators.engine import Out

    p = city_platform
    got, watcher, sink = watch_alerts(p, "outage")
    zone = [d for d in p.city.devices if d.zone == "jangan"]  # 4 stations, 3 parking spaces, a camera
    dark = [d for d in zone if d.kind.value in ("aq", "cctv")]
    assert len(zone) == 8 and len(dark) == 5

    def status(devs: list, what: str, expect: int) -> None:  # type: ignore[type-arg]
        for d in devs:
            pub.send(Out(time.time(), d.device_id, d.kind, "", b"", what))
        assert wait_for(lambda: p.count("SELECT count(*) FROM device_status") == expect, 10)

    with run_ingest(p.settings()):
        pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="device")
        pub.open(zone)  # every device of the zone says it is online
        assert wait_for(lambda: p.count("SELECT count(*) FROM device_status") == 8, 10)
        service = AnalyticsService(p.settings(), sink=sink)
        service.step()
        assert alerts(p) == []
        status(dark, "offline", 13)  # a power cut: the broker sends five Last Wills within a second
        service.step()
        service.alerts.dispatcher.drain_once()
        assert alerts(p) == [
            ("zone.outage", "zone:jangan", "open", 3)
        ]  # one critical alert, no device.offline
        title, details = p.query("SELECT title, explanation->'details' FROM alerts")[0]
        assert title == "Zone outage: 5 of 8 devices offline in jangan"
        assert sorted(details["devices"]) == sorted(d.device_id for d in dark)
        assert details["kinds"] == {"aq": 4, "cctv": 1}
        assert wait_for(lambda: [n["rule"] for n in got] == ["zone.outage"], 10)  # one page, not five
        service.step()  # nothing changed: nothing new
        assert p.count("SELECT count FROM alerts") == 1
        # power is back for three, after longer than the Last Wills' minute: the outage clears; the two
        # others may be seconds slower to boot, so they get a minute from the outage's end (not paged now,
        # though their Last Wills are old), then each its own offline alert
        status(dark[:3], "online", 16)
        back = datetime.now(UTC) + timedelta(seconds=90)
        service.step(back)
        assert alerts(p) == [("zone.outage", "zone:jangan", "resolved", 3)]
        service.step(back + timedelta(seconds=30))
        assert alerts(p) == [("zone.outage", "zone:jangan", "resolved", 3)]
        service.step(back + timedelta(seconds=61))  # a minute after power came back, still dark
        service.alerts.dispatcher.drain_once()
        assert sorted(alerts(p)) == sorted(
            [("zone.outage", "zone:jangan", "resolved", 3)]
            + [("device.offline", d.device_id, "open", 2) for d in dark[3:]]
        )
        assert wait_for(lambda: sum(n["what"] == "auto_resolved" for n in got) == 1, 10)
        pub.close()
    sink.close()
    watcher.loop_stop()


@pytest.mark.parametrize("auto_resolve", [True, False], ids=["auto-resolve", "operator-resolves"])
def test_cctv_fire_burst_across_cameras_is_one_incident_and_clears(  # type: ignore[no-untyped-def]
    city_platform: Platform, run_ingest, tmp_path, auto_resolve: bool
) -> None:
    from citywatch.contracts import messages as m
    from citywatch.contracts.topics import DeviceKind, topic_for

    p = city_platform
    cams = [d for d in p.city.of_kind(DeviceKind.CCTV)]
    zone = cams[0].zone
    cams = [c for c in cams if c.zone == zone] + [c for c in cams if c.zone != zone]
    t0 = datetime.now(UTC) - timedelta(hours=1)
    with run_ingest(p.settings()):
        pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
        pub.open([])
        seq = 0
        for i in range(6):  # a burst on one camera, then a second camera reports fire in the same zone
            cam = cams[0] if i < 5 else cams[1]
            ev = m.CctvEvent(
                device_id=cam.device_id,
                ts=t0 + timedelta(seconds=10 * i),
                seq=seq,
                event_id=f"evt-{i:08d}",
                event_type=m.CctvEventType.FIRE,
                confidence=0.9,
                object_class=m.ObjectClass.FIRE,
                bbox=m.BoundingBox(x=0.1, y=0.1, w=0.2, h=0.2),
                zone=zone,
            )
            seq += 1
            pub.send_raw(topic_for(DeviceKind.CCTV, cam.device_id), m.to_json(ev))
        assert pub.flush(10)
        assert wait_for(lambda: p.count("SELECT count(*) FROM cctv_events") == 6, 20)
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"policies: {{cctv.fire: {{auto_resolve: {str(auto_resolve).lower()}}}}}")
    settings = p.settings()
    settings.analytics.rules_file = rules
    service = AnalyticsService(settings)
    service.step(now=t0 + timedelta(minutes=3), health=False)  # during the burst
    live = {(r, s, st, sev) for r, s, st, sev in alerts(p) if r.startswith("cctv")}
    assert ("cctv.fire", cams[0].device_id, "open", 3) in live
    assert ("cctv.incident.fire", f"zone:{zone}", "open", 3) in live
    counts = dict(p.query("SELECT subject, count FROM alerts WHERE rule = 'cctv.fire'"))
    assert counts[cams[0].device_id] == 5  # the burst is one alert with a count
    service.step(now=t0 + timedelta(minutes=30), health=False)  # quiet for long enough: they clear themselves
    states = {r: st for r, _s, st, _ in alerts(p) if r.startswith("cctv")}
    assert states["cctv.incident.fire"] == "resolved"
    # the rules file decides whether the fire alert waits for an operator
    assert states["cctv.fire"] == ("resolved" if auto_resolve else "open")
    if not auto_resolve:
        assert {r for (r,) in p.query("SELECT condition_active FROM alerts WHERE rule = 'cctv.fire'")} == {
            False
        }


def test_messages_lost_on_the_way_raise_device_loss(city_platform: Platform, run_ingest) -> None:  # type: ignore[no-untyped-def]
    p = city_platform
    bus = next(d for d in p.city.devices if d.kind.value == "bus")
    end = time.time() - 60
    with run_ingest(p.settings()):
        service = AnalyticsService(p.settings())
        service.step()  # baseline
        pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
        pub.open([])
        drop = Fault("dropout", bus.device_id, end - 600, end - 300)
        pub.run(
            simulate(
                p.city.__class__(p.city.seed, [bus], [], p.city.stops, p.city.routes),
                end - 900,
                end,
                seed=2,
                faults=[drop],
            ),
            speed=float("inf"),
            progress_every=0,
        )
        assert pub.flush(10)
        assert wait_for(lambda: p.count("SELECT coalesce(sum(gaps), 0) FROM device_streams") > 0, 10)
        service.step()
    got = alerts(p)
    assert ("device.loss", bus.device_id, "open", 2) in got
    expl = p.query("SELECT explanation FROM alerts WHERE rule = 'device.loss'")[0][0]
    assert expl["observed"] >= 50  # type: ignore[index]  # 5 minutes of positions every 5 s


def test_bad_data_and_clock_skew_from_one_device(city_platform: Platform, run_ingest) -> None:  # type: ignore[no-untyped-def]
    from citywatch.contracts import messages as m
    from citywatch.contracts.topics import DeviceKind, topic_for

    p = city_platform
    with run_ingest(p.settings()):
        pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
        pub.open([])
        for i in range(6):  # garbage from one station
            pub.send_raw(topic_for(DeviceKind.AIR_QUALITY, "aq-002"), b"{broken %d" % i)
        ahead = datetime.now(UTC) + timedelta(minutes=2)  # inside the accepted window, but ahead of arrival
        pub.send_raw(
            topic_for(DeviceKind.AIR_QUALITY, "aq-003"),
            m.to_json(m.AirQualityReading(device_id="aq-003", ts=ahead, seq=0, pm25=10)),
        )
        assert pub.flush(10)
        assert wait_for(lambda: p.count("SELECT coalesce(sum(received), 0) FROM ingest_counters") == 7, 10)
    service = AnalyticsService(p.settings())
    service.step()
    got = {(r, s) for r, s, st, _ in alerts(p) if st == "open"}
    assert ("device.bad_data", "aq-002") in got
    assert ("device.clock_skew", "aq-003") in got
    assert ("device.bad_data", "aq-003") not in got


def _station_days(
    dev: str, start: datetime, end: datetime, r: Any, unusual_from: datetime | None = None
) -> list[tuple[Any, ...]]:
    """Air-quality rows every 10 minutes of a roadside station with rush hours in KST; from ``unusual_from``
    an unusual mix (PM2.5 far above its slot, NO2 high with CO low)."""
    rows = []
    t, seq = start, 0
    while t < end:
        local_h = (t.hour + 9) % 24
        traffic = 1.0 if local_h in (8, 9, 18, 19) else 0.3
        pm25 = 12 + 20 * traffic + r.gauss(0, 1.5)
        no2, co = 0.01 + 0.03 * traffic + r.gauss(0, 0.002), 0.3 + 0.8 * traffic + r.gauss(0, 0.04)
        if unusual_from is not None and t >= unusual_from:
            pm25, no2, co = 90.0, 0.05, 0.2
        rows.append((t, dev, seq, pm25 * 1.6, pm25, 0.03, no2, co, 0.003, t))
        t += timedelta(minutes=10)
        seq += 1
    return rows


def test_learned_baseline_pollutant_mix_and_unusual_shapes(db_url: str) -> None:
    """Ten days of one station's history written straight into the table analytics reads: nine habitual days,
    then three unusual hours."""
    import random

    import psycopg

    from citywatch.settings import DatabaseSettings, Settings

    r = random.Random(3)
    end = datetime(2026, 10, 20, tzinfo=UTC)
    start = end - timedelta(days=10)
    rows = _station_days("aq-x", start, end, r, unusual_from=end - timedelta(hours=3))
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO zones VALUES ('z', 'Zone') ON CONFLICT DO NOTHING")
        conn.execute(
            "INSERT INTO devices (device_id, kind, name, zone_id, expected_interval_s)"
            " VALUES ('aq-x', 'aq', 'x', 'z', 600)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO air_quality (time, device_id, seq, pm10, pm25, o3, no2, co, so2, received_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                rows,
            )
    service = AnalyticsService(Settings(db=DatabaseSettings(url=db_url)))
    steps: list[tuple[str, float]] = []
    service.progress = lambda text, done: steps.append((text, done))  # the CLI's progress bar
    service.evaluate_range(start - timedelta(minutes=1), end)
    assert len(steps) >= 2 and steps[-1][1] == 1.0  # ten days in slices sized by the data, to the end
    assert [d for _t, d in steps] == sorted(d for _t, d in steps)
    air = [t for t, _d in steps if t.startswith("air quality: up to")]
    assert f"({len(rows):,} of {len(rows):,})" in air[-1], air[-1]
    assert steps[-1][0].startswith("parking events:")  # every stream, the last one last
    with psycopg.connect(db_url) as conn:
        got = {
            r: (st, e)
            for r, st, e in conn.execute(
                "SELECT rule, state, explanation FROM alerts WHERE rule IN ('aq.unusual', 'aq.multivariate')"
            )
        }
    assert "aq.unusual" in got
    assert got["aq.unusual"][1]["baseline"] < 40 and got["aq.unusual"][1]["observed"] > 80
    assert "aq.multivariate" in got
    # the explanation names pollutants of the unusual mix (PM2.5 high, NO2 high with CO low), each at a
    # distance the analysers can tell apart (no spread below their uncertainty)
    features = got["aq.multivariate"][1]["details"]["features"]
    assert set(features) & {"co", "pm25", "no2"} and all(abs(z) < 50 for z in features.values()), features
    # aq.shape: quiet through the habitual days, then the unusual hours are patterns never seen
    shape_sql = "SELECT rule, opened_at, count, explanation, state FROM alerts WHERE rule LIKE 'aq.shape.%%' ORDER BY id"
    with psycopg.connect(db_url) as conn:
        every = conn.execute(shape_sql).fetchall()
        shapes = {r: (opened, n, e) for r, opened, n, e, _st in every}  # each rule's latest alert
        saved = conn.execute(
            "SELECT state FROM analytics_state WHERE name = 'analytics:v1:shapes'"
        ).fetchone()
    assert "aq.shape.pm25" in shapes and set(shapes) <= {
        f"aq.shape.{p}" for p in ("pm25", "pm10", "no2", "co")
    }
    assert all(opened >= end - timedelta(hours=3) for opened, _n, _e in shapes.values()), shapes
    # nine habitual days of noise hold at most a marginal new high or low, long resolved
    habitual = [(r, o, st) for r, o, _n, _e, st in every if o < end - timedelta(hours=3)]
    assert len(habitual) <= 1 and all(st == "resolved" for _r, _o, st in habitual), habitual
    pm25 = shapes["aq.shape.pm25"][2]
    assert "new high" in pm25["message"] and pm25["observed"] > 80 and pm25["baseline"] < 40
    assert saved and "pm25:aq-x" in saved[0]["detectors"]  # the detectors are kept for a restart
    # a restarted service resumes from the saved detectors, and re-evaluating the range changes nothing
    again = AnalyticsService(Settings(db=DatabaseSettings(url=db_url)))
    assert again.air.shapes.last_hour["pm25:aq-x"] == end
    again.evaluate_range(start - timedelta(minutes=1), end)
    with psycopg.connect(db_url) as conn:
        assert conn.execute(shape_sql).fetchall() == every
    # zone partitions starting for the first time take their own stations' detectors from the city's, only
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO zones VALUES ('w', 'West') ON CONFLICT DO NOTHING")
        conn.execute(
            "INSERT INTO devices (device_id, kind, name, zone_id, expected_interval_s)"
            " VALUES ('aq-y', 'aq', 'y', 'w', 600)"
        )
    settings = Settings(db=DatabaseSettings(url=db_url))
    mine, other = (
        AnalyticsService(settings, partition="zone:z"),
        AnalyticsService(settings, partition="zone:w"),
    )
    assert "pm25:aq-x" in mine.air.shapes.detectors and other.air.shapes.detectors == {}
    other._save_state()
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT state FROM analytics_state WHERE name = 'analytics:v1:zone:w:shapes'"
        ).fetchone()
    assert row is not None and row[0]["detectors"] == {}


def _register(conn: Any, device: str, kind: str, interval_s: float) -> None:
    """A device of zone ``z`` (the zone too, once)."""
    conn.execute("INSERT INTO zones VALUES ('z', 'Zone') ON CONFLICT DO NOTHING")
    conn.execute(
        "INSERT INTO devices (device_id, kind, name, zone_id, expected_interval_s) VALUES (%s, %s, %s, 'z', %s)",
        (device, kind, device, interval_s),
    )


def test_a_device_back_online_is_alive_from_then_though_its_data_lags(db_url: str) -> None:
    """After a power cut the devices reconnect before their next reading: that is a sign of life, so no
    offline alert for the minutes until their data comes; one that never says it is back stays offline."""
    import psycopg

    from citywatch.settings import DatabaseSettings, Settings

    now = datetime.now(UTC)
    hour_ago = now - timedelta(hours=1)
    with psycopg.connect(db_url, autocommit=True) as conn:
        for dev in ("aq-back", "aq-gone"):
            _register(conn, dev, "aq", 60)
            conn.execute(
                "INSERT INTO device_streams (device_id, stream, last_seq, max_seq, last_time, last_received_at)"
                " VALUES (%s, 'aq', 1, 1, %s, %s)",
                (dev, hour_ago, hour_ago),
            )
        conn.execute(
            "INSERT INTO device_status (time, device_id, status, received_at) VALUES (%s, 'aq-back', 'online', %s)",
            (now - timedelta(seconds=20), now - timedelta(seconds=20)),
        )
    service = AnalyticsService(Settings(db=DatabaseSettings(url=db_url)))
    service.step(now)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT rule, subject FROM alerts ORDER BY subject").fetchall()
    assert rows == [("device.offline", "aq-gone")]
    service.step(now + timedelta(minutes=6))  # still no reading five minutes after saying it is back: offline
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT rule, subject FROM alerts ORDER BY subject").fetchall()
    assert rows == [("device.offline", "aq-back"), ("device.offline", "aq-gone")]


def test_a_re_evaluation_on_a_terminal_shows_a_progress_bar(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys
    from types import SimpleNamespace

    from analytics.__main__ import _with_progress_bar

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    fake = SimpleNamespace(progress=None)

    def work() -> int:
        for i in range(1, 5):
            fake.progress(f"parking events: up to 2026-10-0{i} 00:00 ({100 * i:,} of 400)", i / 4)
        return 400

    assert _with_progress_bar(fake, work) == 400  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert "parking events: up to 2026-10-04 00:00 (400 of 400)" in err and "100%" in err


def test_an_unusual_mix_shared_by_a_zone_is_one_alert_for_the_zone(db_url: str) -> None:
    """Ten habitual days of six stations in two zones, then three unusual hours: in zone z1 at three of
    its four stations (shared air: one alert for the zone, none per station), in zone z2 at one of two
    stations (its own alert)."""
    import random

    import psycopg

    from citywatch.settings import DatabaseSettings, Settings

    r = random.Random(5)
    end = datetime(2026, 10, 20, tzinfo=UTC)
    start = end - timedelta(days=10)
    stations = {"a1": "z1", "a2": "z1", "a3": "z1", "a4": "z1", "b1": "z2", "b2": "z2"}
    odd = {"a1", "a2", "a3", "b1"}
    rows = [
        row
        for dev in stations
        for row in _station_days(
            dev, start, end, r, unusual_from=end - timedelta(hours=3) if dev in odd else None
        )
    ]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO zones VALUES ('z1', 'Zone 1'), ('z2', 'Zone 2') ON CONFLICT DO NOTHING")
        for dev, zone in stations.items():
            conn.execute(
                "INSERT INTO devices (device_id, kind, name, zone_id, expected_interval_s)"
                " VALUES (%s, 'aq', %s, %s, 600)",
                (dev, dev, zone),
            )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO air_quality (time, device_id, seq, pm10, pm25, o3, no2, co, so2, received_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                rows,
            )
    AnalyticsService(Settings(db=DatabaseSettings(url=db_url))).evaluate_range(
        start - timedelta(minutes=1), end
    )
    with psycopg.connect(db_url) as conn:
        mv = {
            s: (st, e)
            for s, st, e in conn.execute(
                "SELECT subject, state, explanation FROM alerts WHERE rule = 'aq.multivariate'"
                " AND opened_at >= %s",
                (end - timedelta(hours=4),),
            )
        }
    assert "zone:z1" in mv, mv.keys()
    zone_alert = mv["zone:z1"][1]
    assert (
        set(zone_alert["details"]["stations"]) >= {"a1", "a2", "a3"}
        and zone_alert["details"]["evaluated"] == 4
    )
    assert "stations unusual in the same hour" in zone_alert["message"]
    assert not any(s in mv and mv[s][0] != "resolved" for s in ("a1", "a2", "a3")), mv.keys()
    assert "b1" in mv and "zone:z2" not in mv  # one of two in z2: the station's own


def test_a_camera_off_by_its_last_will_is_offline_not_also_silent(db_url: str) -> None:
    """Two cameras that sent an event every 5 min fall quiet for hours: the one that is on is silent (its
    analytics stopped), the one whose Last Will came is offline — one alert, not two."""
    import psycopg

    from citywatch.settings import DatabaseSettings, Settings

    now = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(db_url, autocommit=True) as conn:
        for cam in ("cam-on", "cam-off"):
            _register(conn, cam, "cctv", 0)
            for i in range(38):  # 5 h 50 min to 2 h 45 min ago, a low-confidence event every 5 min
                t = now - timedelta(minutes=350 - 5 * i)
                conn.execute(
                    "INSERT INTO cctv_events (time, device_id, seq, event_id, event_type, confidence,"
                    " object_class, bbox, zone, received_at) VALUES (%s, %s, %s, %s, 'loitering', 0.3,"
                    " 'person', '{0.1,0.1,0.1,0.1}', 'z', %s)",
                    (t, cam, i, f"{cam}-{i}", t),
                )
        at = now - timedelta(minutes=160)  # cam-off's Last Will, just after its last event
        conn.execute(
            "INSERT INTO device_status (time, device_id, status, received_at) VALUES (%s, 'cam-off', 'offline', %s)",
            (at, at),
        )
    AnalyticsService(Settings(db=DatabaseSettings(url=db_url))).step(now)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT rule, subject FROM alerts ORDER BY rule, subject").fetchall()
    assert rows == [("cctv.silent", "cam-on"), ("device.offline", "cam-off")]
