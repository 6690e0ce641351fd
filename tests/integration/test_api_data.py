"""API reads against the real TimescaleDB: downsampling against raw data, latest values, devices,
parking and NGSI-LD shapes, air quality, CCTV and alert pagination, the alert workflow, buses."""

from __future__ import annotations

import codecs
import csv
import io
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import paho.mqtt.client as paho
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from psycopg.types.json import Jsonb

from alerts import store
from alerts.load import interval_start
from alerts.model import Clear, Explanation, Policy, Raise, Severity, Tick
from api.timeseries import pick_bucket
from citywatch.db import rollups
from citywatch.devices import RegistryWatcher, broker_accounts
from tests.support import Api, wait_for


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# -- pure --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("span", "points", "bucket_s"),
    [
        (timedelta(days=30), 1000, 3600),  # 720 hourly points
        (timedelta(days=1), 1000, 120),
        (timedelta(hours=1), 1000, 5),
        (timedelta(days=30), 10, 7 * 86400),
        (timedelta(minutes=1), 1000, 1),
    ],
)
def test_pick_bucket_is_the_smallest_nice_bucket_within_the_limit(
    span: timedelta, points: int, bucket_s: int
) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    b = pick_bucket(t0, t0 + span, points)
    assert b.total_seconds() == bucket_s
    assert span / b <= points


# -- telemetry ---------------------------------------------------------------------------
def _aq_minutes(api: Api, device: str, start: datetime, minutes: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pm = rng.uniform(5, 120, minutes).round(2)
    with (
        psycopg.connect(api.platform.db_url) as conn,
        conn.cursor() as cur,
        cur.copy("COPY air_quality (time, device_id, seq, pm10, pm25, received_at) FROM STDIN") as cp,
    ):
        for i in range(minutes):
            t = start + timedelta(minutes=i)
            cp.write_row((t, device, i, float(pm[i]), float(pm[i]) / 2, t))
    return pm


def test_series_downsampling_matches_the_raw_data(api: Api) -> None:
    start = _now().replace(minute=0, second=0) - timedelta(days=2)
    pm = _aq_minutes(api, "aq-001", start, 2 * 1440)
    end = start + timedelta(days=2)
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:  # written around ingest: mark them
        rollups.invalidate_all(conn)
    assert rollups.refresh_all(api.platform.db_url) == 48
    with api.client("viewer") as c:
        for agg, fn in (("avg", np.mean), ("max", np.max), ("min", np.min), ("count", len)):
            r = c.get(
                "/api/v1/devices/aq-001/series",
                params={
                    "metric": "pm10",
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "agg": agg,
                    "max_points": 100,
                },
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["bucket_s"] == 1800 and body["unit"] == "µg/m³"  # 96 half-hours <= 100 points
            pts = body["points"]
            assert len(pts) == 96
            for k, p in enumerate(pts):
                expected = fn(pm[k * 30 : (k + 1) * 30].astype(np.float32))
                assert p["v"] == pytest.approx(float(expected), rel=1e-5), (agg, k)
                assert datetime.fromisoformat(p["t"]) == start + timedelta(minutes=30 * k)
        # hourly and longer averages come from the rollup, and say so
        for points, width in ((48, 60), (10, 360)):
            r = c.get(
                "/api/v1/devices/aq-001/series",
                params={
                    "metric": "pm10",
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "max_points": points,
                },
            ).json()
            assert r["source"] == "rollup_1h" and r["bucket_s"] == width * 60
            expected = [
                float(np.mean(pm[k * width : (k + 1) * width].astype(np.float32)))
                for k in range(len(r["points"]))
            ]
            assert [p["v"] for p in r["points"]] == pytest.approx(expected, rel=1e-5)
        # the last reading of each bucket
        r = c.get(
            "/api/v1/devices/aq-001/series",
            params={
                "metric": "pm10",
                "start": start.isoformat(),
                "end": end.isoformat(),
                "agg": "last",
                "max_points": 48,
            },
        ).json()
        assert [p["v"] for p in r["points"]] == pytest.approx(
            [float(pm[k * 60 + 59]) for k in range(48)], rel=1e-6
        )
        # CSV of the same series
        r = c.get(
            "/api/v1/devices/aq-001/series",
            params={
                "metric": "pm10",
                "start": start.isoformat(),
                "end": end.isoformat(),
                "format": "csv",
                "max_points": 48,
            },
        )
        assert r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.content.startswith(codecs.BOM_UTF8)  # Korean spreadsheet software reads it as UTF-8
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows[0] == ["time", "pm10"] and len(rows) == 49
        # errors name the field
        bad = c.get("/api/v1/devices/aq-001/series", params={"metric": "speed_kmh"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.metric"
        too_many = c.get("/api/v1/devices/aq-001/series", params={"metric": "pm10", "max_points": 10**6})
        assert too_many.status_code == 422
        too_long = c.get(
            "/api/v1/devices/aq-001/series",
            params={"metric": "pm10", "start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        )
        assert too_long.status_code == 422 and too_long.json()["detail"] == "조회 기간은 최대 400일입니다"
        assert c.get("/api/v1/devices/nope/series", params={"metric": "pm10"}).status_code == 404
        # raw export
        r = c.get(
            "/api/v1/devices/aq-001/export.csv", params={"start": start.isoformat(), "end": end.isoformat()}
        )
        assert r.content.startswith(codecs.BOM_UTF8)
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows[0][:3] == ["time", "seq", "pm10"] and len(rows) == 1 + 2 * 1440
        assert float(rows[1][2]) == pytest.approx(float(pm[0]))


def test_latest_reading_per_device(api: Api) -> None:
    now = _now()
    _aq_minutes(api, "aq-001", now - timedelta(minutes=30), 10, seed=1)
    pm = _aq_minutes(api, "aq-002", now - timedelta(minutes=5), 3, seed=2)
    with api.client("viewer") as c:
        rows = c.get("/api/v1/telemetry/latest", params={"kind": "aq"}).json()
        assert [r["device_id"] for r in rows] == ["aq-001", "aq-002"]
        assert rows[1]["values"]["pm10"] == pytest.approx(float(pm[-1]))
        assert datetime.fromisoformat(rows[0]["time"]) == now - timedelta(minutes=21)
        fresh = c.get("/api/v1/telemetry/latest", params={"kind": "aq", "max_age_s": 600}).json()
        assert [r["device_id"] for r in fresh] == ["aq-002"]


# -- devices -----------------------------------------------------------------------------
def test_device_list_state_and_loss(api: Api) -> None:
    p = api.platform
    p.query(
        "INSERT INTO device_streams (device_id, stream, last_seq, max_seq, received, gaps, last_time, last_received_at)"
        " VALUES ('aq-001', 'telemetry', 99, 99, 95, 5, now(), now()),"
        " ('aq-002', 'telemetry', 9, 9, 10, 0, now() - interval '2 hours', now() - interval '2 hours')"
    )
    with api.client("viewer") as c:
        rows = {d["device_id"]: d for d in c.get("/api/v1/devices", params={"kind": "aq"}).json()}
        assert rows["aq-001"]["state"] == "online" and rows["aq-001"]["loss_pct"] == 5.0
        assert rows["aq-002"]["state"] == "offline"
        assert rows["aq-003"]["state"] == "never_seen" and rows["aq-003"]["loss_pct"] is None
        online = c.get("/api/v1/devices", params={"state": "online"}).json()
        assert [d["device_id"] for d in online] == ["aq-001"]
        zone = c.get("/api/v1/devices", params={"zone": "jangan", "kind": "parking"}).json()
        assert {d["lot_id"] for d in zone} == {"lot-01"} and len(zone) == 5
        detail = c.get("/api/v1/devices/aq-001").json()
        assert detail["streams"][0]["gaps"] == 5 and detail["open_alerts"] == 0
        assert c.get("/api/v1/devices/nope").status_code == 404
        assert c.get("/api/v1/devices", params={"kind": "toaster"}).status_code == 422


def _can_connect(port: int, user: str, password: str) -> bool:
    done = threading.Event()
    result: list[bool] = []
    cl = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{user}-{password[:4]}")
    cl.username_pw_set(user, password)

    def on_connect(_c: object, _u: object, _f: object, rc: object, _p: object = None) -> None:
        result.append(not getattr(rc, "is_failure", False))
        done.set()

    cl.on_connect = on_connect
    cl.connect("127.0.0.1", port)
    cl.loop_start()
    done.wait(5)
    cl.disconnect()
    cl.loop_stop()
    return bool(result and result[0])


def test_registering_rotating_and_retiring_a_device_change_its_broker_account(api: Api) -> None:
    p = api.platform

    def rewrite() -> None:
        p.broker.write_auth(broker_accounts(p.db_url))
        p.broker.reload()

    watcher = RegistryWatcher(p.db_url, rewrite)
    t = threading.Thread(target=watcher.run, daemon=True)
    t.start()
    try:
        with api.client("admin") as c:
            r = c.post(
                "/api/v1/devices",
                json={
                    "device_id": "aq-900",
                    "kind": "aq",
                    "name": "New station",
                    "zone_id": "jangan",
                    "lat": 37.3,
                    "lon": 127.0,
                    "expected_interval_s": 60,
                },
            )
            assert r.status_code == 201, r.text
            cred = r.json()
            assert cred["username"] == "aq-900" and cred["topic_prefix"] == "cw/v1"
            assert wait_for(lambda: _can_connect(p.broker.port, "aq-900", cred["password"]), 10)
            assert (
                c.post("/api/v1/devices", json={"device_id": "aq-900", "kind": "aq", "name": "x"}).status_code
                == 409
            )
            assert (
                c.post(
                    "/api/v1/devices",
                    json={"device_id": "aq-901", "kind": "aq", "name": "x", "zone_id": "atlantis"},
                ).status_code
                == 422
            )
            new = c.post("/api/v1/devices/aq-900/credentials").json()
            assert new["password"] != cred["password"]
            assert wait_for(lambda: not _can_connect(p.broker.port, "aq-900", cred["password"]), 10)
            assert _can_connect(p.broker.port, "aq-900", new["password"])
            patched = c.patch("/api/v1/devices/aq-900", json={"name": "Renamed"}).json()
            assert patched["name"] == "Renamed"
            # a station's analysers: kept as given; ranges that make no sense refused, naming the field
            kit = {"instruments": {"o3": {"full_scale": 0.5}, "co": {"low": 0, "full_scale": 50}}}
            assert c.patch("/api/v1/devices/aq-900", json={"meta": kit}).json()["meta"] == kit
            bad = c.patch("/api/v1/devices/aq-900", json={"meta": {"instruments": {"o3": {"full_scale": 0}}}})
            assert bad.status_code == 422 and "full_scale" in bad.text, bad.text
            bad = c.patch(
                "/api/v1/devices/aq-900", json={"meta": {"instruments": {"radon": {"full_scale": 9}}}}
            )
            assert bad.status_code == 422 and "radon" in bad.text, bad.text
            retired = c.delete("/api/v1/devices/aq-900").json()
            assert retired["state"] == "retired"
            assert wait_for(lambda: not _can_connect(p.broker.port, "aq-900", new["password"]), 10)
        actions = [a for (a,) in p.query("SELECT action FROM api_audit ORDER BY id")]
        # the rename and the analysers are audited; the refused updates are not (nothing changed)
        assert actions == [
            "device.register",
            "device.rotate_credentials",
            "device.update",
            "device.update",
            "device.retire",
        ]
    finally:
        watcher.stop()
        t.join(5)


# -- parking, NGSI-LD, air quality ------------------------------------------------------------
def _park(api: Api, states: dict[str, bool], t: datetime) -> None:
    api.platform.query(
        "INSERT INTO parking_events (time, device_id, seq, lot_id, space_id, occupied, reason, battery_pct, received_at)"
        " SELECT %s, d, 1, 'lot-01', 'S' || right(d, 3), o, 'change', 80, now()"
        " FROM unnest(%s::text[], %s::bool[]) AS u(d, o)",
        t,
        list(states),
        list(states.values()),
    )


def test_parking_lots_and_their_ngsi_ld_entities(api: Api) -> None:
    t = _now() - timedelta(minutes=1)
    _park(
        api,
        {"pk-01-001": True, "pk-01-002": True, "pk-01-003": True, "pk-01-004": True, "pk-01-005": False},
        t,
    )
    with api.client("viewer") as c:
        lots = {lot["lot_id"]: lot for lot in c.get("/api/v1/parking/lots").json()}
        l1 = lots["lot-01"]
        assert (l1["capacity"], l1["occupied"], l1["available"], l1["occupancy_rate"], l1["status"]) == (
            5,
            4,
            1,
            0.8,
            "open",
        )
        assert lots["lot-02"]["status"] == "unknown" and lots["lot-02"]["reporting"] == 0
        _park(api, {"pk-01-005": True}, t + timedelta(seconds=30))
        detail = c.get("/api/v1/parking/lots/lot-01").json()
        assert detail["status"] == "full" and detail["available"] == 0
        assert [s["space_id"] for s in detail["spaces"]] == ["S001", "S002", "S003", "S004", "S005"]
        assert c.get("/api/v1/parking/lots/lot-99").status_code == 404

        r = c.get("/ngsi-ld/v1/entities", params={"type": "OffStreetParking"})
        assert r.headers["content-type"] == "application/ld+json"
        ent = {e["id"]: e for e in r.json()}["urn:ngsi-ld:OffStreetParking:lot-01"]
        assert ent["type"] == "OffStreetParking"
        assert ent["totalSpotNumber"] == {"type": "Property", "value": 5}
        assert ent["availableSpotNumber"]["type"] == "Property" and ent["availableSpotNumber"]["value"] == 0
        assert ent["availableSpotNumber"]["observedAt"].endswith("Z")
        assert ent["status"]["value"] == ["full"]
        assert ent["location"] == {
            "type": "GeoProperty",
            "value": {
                "type": "Point",
                "coordinates": [
                    ent["location"]["value"]["coordinates"][0],
                    ent["location"]["value"]["coordinates"][1],
                ],
            },
        }
        assert any("dataModel.Parking" in ctx for ctx in ent["@context"])
        assert ent["refParkingSpot"]["type"] == "Relationship" and len(ent["refParkingSpot"]["object"]) == 5
        spots = c.get("/ngsi-ld/v1/entities", params={"type": "ParkingSpot"}).json()
        s1 = {e["id"]: e for e in spots}["urn:ngsi-ld:ParkingSpot:lot-01:S001"]
        assert s1["status"]["value"] == "occupied"
        assert len({e["id"] for e in spots}) == 10  # labels repeat across lots; ids do not
        assert s1["refParkingSite"] == {
            "type": "Relationship",
            "object": "urn:ngsi-ld:OffStreetParking:lot-01",
        }
        one = c.get("/ngsi-ld/v1/entities/urn:ngsi-ld:OffStreetParking:lot-02").json()
        assert one["availableSpotNumber"]["value"] == 5
        assert c.get("/ngsi-ld/v1/entities", params={"type": "Toaster"}).status_code == 400
        assert c.get("/ngsi-ld/v1/entities/urn:ngsi-ld:OffStreetParking:nope").status_code == 404


def test_air_quality_stations_advisories_and_ngsi_ld(api: Api) -> None:
    now = _now()
    _aq_minutes(api, "aq-001", now - timedelta(minutes=3), 3)
    hour = now.replace(minute=0, second=0) - timedelta(hours=1)
    api.platform.query(
        "INSERT INTO aq_hourly (hour, device_id, pm10_24h, pm25_24h, cai, grade, dominant, sub_indices)"
        " VALUES (%s, 'aq-001', 160, 80, 180, 'unhealthy', 'pm25', %s)",
        hour,
        Jsonb({"pm10": 130, "pm25": 180}),
    )
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        ev = Raise("aq.advisory.pm25", "jangan", "aq", Severity.WARNING, "PM2.5 주의보: jangan",
                   Explanation(rule="aq.advisory.pm25", observed=80, details={"level": "advisory"}), 80.0)  # fmt: skip
        store.apply(conn, ev, now)
    with api.client("viewer") as c:
        st = {s["device_id"]: s for s in c.get("/api/v1/airquality/stations").json()}
        assert (st["aq-001"]["cai"], st["aq-001"]["grade"], st["aq-001"]["sub_indices"]["pm25"]) == (
            180,
            "unhealthy",
            180,
        )
        assert st["aq-002"]["cai"] is None
        adv = c.get("/api/v1/airquality/advisories").json()
        assert [(a["pollutant"], a["subject"], a["level"], a["state"]) for a in adv] == [
            ("pm25", "jangan", "advisory", "open")
        ]
        assert c.get("/api/v1/airquality/advisories", params={"zone": "paldal"}).json() == []
        hist = c.get("/api/v1/airquality/stations/aq-001/history").json()
        assert [h["cai"] for h in hist] == [180]
        aq = {e["id"]: e for e in c.get("/ngsi-ld/v1/entities", params={"type": "AirQualityObserved"}).json()}
        e = aq["urn:ngsi-ld:AirQualityObserved:aq-001"]
        assert e["airQualityIndex"]["value"] == 180 and e["pm10"]["unitCode"] == "GQ"
        assert e["refDevice"] == {"type": "Relationship", "object": "urn:ngsi-ld:Device:aq-001"}


# -- cctv, alerts --------------------------------------------------------------------------------
def test_cctv_events_filter_and_cursor_pages(api: Api) -> None:
    t0 = _now() - timedelta(hours=1)
    api.platform.query(
        "INSERT INTO cctv_events (time, device_id, seq, event_id, event_type, confidence, object_class, bbox, zone, received_at)"
        " SELECT %s + i * interval '10 seconds', 'cam-00' || (1 + i %% 2), i, 'e' || i,"
        "  CASE WHEN i %% 3 = 0 THEN 'fire' ELSE 'loitering' END, 0.5 + (i %% 5) / 10.0, 'person',"
        "  '{0.1,0.1,0.2,0.2}', CASE WHEN i %% 2 = 0 THEN 'jangan' ELSE 'gwonseon' END, now()"
        " FROM generate_series(0, 24) i",
        t0,
    )
    with api.client("viewer") as c:
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, object] = {"limit": 4, "start": (t0 - timedelta(minutes=1)).isoformat()}
            if cursor:
                params["cursor"] = cursor
            page = c.get("/api/v1/cctv/events", params=params).json()
            seen += [e["event_id"] for e in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == [f"e{i}" for i in range(24, -1, -1)]  # all, once, newest first
        fire = c.get(
            "/api/v1/cctv/events", params={"type": "fire", "min_confidence": 0.8, "start": t0.isoformat()}
        ).json()
        assert (
            all(e["event_type"] == "fire" and e["confidence"] >= 0.8 for e in fire["items"]) and fire["items"]
        )
        counts = {(r["zone"], r["event_type"]): r["events"] for r in c.get("/api/v1/cctv/counts").json()}
        assert sum(counts.values()) == 25 and counts[("jangan", "fire")] == 5
        assert c.get("/api/v1/cctv/events", params={"cursor": "garbage"}).status_code == 422


def _raise(api: Api, n: int) -> list[int]:
    ids = []
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        for i in range(n):
            sev = Severity(1 + i % 3)
            a = store.apply(
                conn,
                Raise(
                    "test.rule",
                    f"dev-{i:02d}",
                    "aq",
                    sev,
                    f"alert {i}",
                    Explanation(rule="test.rule", observed=float(i)),
                ),
                _now() - timedelta(minutes=n - i),
            )
            assert a is not None and a.id is not None
            ids.append(a.id)
    return ids


def test_alert_pages_and_the_operator_workflow(api: Api) -> None:
    ids = _raise(api, 11)
    with api.client("viewer") as v:
        seen, cursor = [], None
        while True:
            page = v.get(
                "/api/v1/alerts", params={"limit": 3, **({"cursor": cursor} if cursor else {})}
            ).json()
            seen += [(a["severity"], a["id"]) for a in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert sorted(i for _, i in seen) == sorted(ids) and len(seen) == 11
        order = {"critical": 3, "warning": 2, "info": 1}
        assert [order[s] for s, _ in seen] == sorted((order[s] for s, _ in seen), reverse=True)
        assert (
            v.get("/api/v1/alerts", params={"zone": "jangan"}).json()["items"] == []
        )  # dev-NN are in no zone
        with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
            for subject in ("aq-001", "zone:jangan", "lot-01", "aq-002"):  # jangan, jangan, jangan, gwonseon
                store.apply(
                    conn,
                    Raise("test.zone", subject, "aq", Severity.INFO, subject, Explanation(rule="test.zone")),
                    _now(),
                )
        jangan = v.get("/api/v1/alerts", params={"zone": "jangan"}).json()["items"]
        assert sorted(a["subject"] for a in jangan) == ["aq-001", "lot-01", "zone:jangan"]
        crit = v.get("/api/v1/alerts", params={"min_severity": "critical"}).json()["items"]
        assert {a["severity"] for a in crit} == {"critical"} and len(crit) == 3
    target = ids[2]
    with api.client("operator") as op:
        a = op.post(f"/api/v1/alerts/{target}/acknowledge").json()
        assert a["state"] == "acknowledged" and a["acknowledged_by"] == "operator"
        again = op.post(f"/api/v1/alerts/{target}/acknowledge")
        assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
        assert (
            op.post(f"/api/v1/alerts/{target}/assign", json={"assignee": "viewer"}).json()["assignee"]
            == "viewer"
        )
        assert op.post(f"/api/v1/alerts/{target}/assign", json={"assignee": "ghost"}).status_code == 422
        assert op.post(f"/api/v1/alerts/{target}/comments", json={"text": "crew sent"}).status_code == 201
        done = op.post(f"/api/v1/alerts/{target}/resolve", json={"note": "sensor cleaned"}).json()
        assert done["state"] == "resolved" and done["resolved_by"] == "operator"
        trail = [(e["action"], e["actor"], e["detail"]) for e in done["audit"]]
        assert trail == [
            ("opened", "system", "alert 2"),
            ("acknowledged", "operator", ""),
            ("assigned", "operator", "viewer"),
            ("commented", "operator", "crew sent"),
            ("resolved", "operator", "sensor cleaned"),
        ]
        assert op.post("/api/v1/alerts/999999/acknowledge").status_code == 404
        stats = op.get("/api/v1/alerts/stats").json()
        assert stats["resolved_in_range"] == 1 and stats["mttr_s"] is not None
        assert sum(stats["open_by_severity"].values()) == 14
        mine = op.get("/api/v1/alerts", params={"state": "resolved", "assignee": "viewer"}).json()["items"]
        assert [m["id"] for m in mine] == [target]


def test_operators_acknowledge_or_resolve_many_alerts_at_once(api: Api) -> None:
    ids = _raise(api, 4)
    with api.client("operator") as op, api.client("viewer") as v:
        assert op.post(f"/api/v1/alerts/{ids[0]}/acknowledge").status_code == 200
        r = op.post("/api/v1/alerts/bulk", json={"ids": [*ids, ids[1], 999999], "action": "acknowledge"})
        assert r.status_code == 200, r.text
        got = r.json()
        # each once, in order; the one already acknowledged and the unknown one say why, the rest are done
        assert [(x["id"], x["ok"], x["state"]) for x in got] == [
            (ids[0], False, "acknowledged"),
            (ids[1], True, "acknowledged"),
            (ids[2], True, "acknowledged"),
            (ids[3], True, "acknowledged"),
            (999999, False, None),
        ]
        assert "does not exist" in got[-1]["error"] and got[0]["error"]
        r = op.post("/api/v1/alerts/bulk", json={"ids": ids[:2], "action": "resolve", "note": "storm over"})
        assert [x["state"] for x in r.json()] == ["resolved", "resolved"]
        trail = v.get(f"/api/v1/alerts/{ids[1]}").json()["audit"]
        assert [(e["action"], e["detail"]) for e in trail][-1] == ("resolved", "storm over")
        assert v.post("/api/v1/alerts/bulk", json={"ids": ids, "action": "acknowledge"}).status_code == 403
        for bad in (
            {"ids": [], "action": "acknowledge"},
            {"ids": ids, "action": "delete"},
            {"ids": list(range(501)), "action": "resolve"},
        ):
            assert op.post("/api/v1/alerts/bulk", json=bad).status_code == 422, bad


def test_the_shift_report_hands_over_what_happened(api: Api) -> None:
    ids = _raise(api, 6)  # info, warning, critical, info, warning, critical; opened 6..1 minutes ago
    now = _now()
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        store.apply(
            conn,
            Raise("zone.outage", "zone:jangan", "platform", Severity.CRITICAL, "Zone outage: 5 of 8 devices offline",
                  Explanation("zone.outage", details={"devices": ["aq-001", "aq-002", "cam-04", "cam-05", "ps-101"],
                                                      "kinds": {"aq": 2, "cctv": 2, "parking": 1}})),
            now - timedelta(hours=2),
        )  # fmt: skip
        store.apply(conn, Clear("back"), now - timedelta(hours=1), key="zone.outage:zone:jangan")
        chain = Policy(escalate_after_s=60, escalate_again_after_s=(60,))
        fight = store.apply(
            conn,
            Raise("cctv.incident.fight", "zone:jangan", "cctv", Severity.CRITICAL, "Fight seen by 3 cameras",
                  Explanation("cctv.incident", details={"cameras": ["cam-07", "cam-02", "cam-05"]})),
            now - timedelta(hours=3),
        )  # fmt: skip
        assert fight is not None
        for m in (2, 4):  # unanswered: level 1, then level 2
            store.apply(
                conn, Tick(), now - timedelta(hours=3) + timedelta(minutes=m), alert_id=fight.id, policy=chain
            )
        store.apply(conn, Clear("quiet"), now - timedelta(hours=2), key="cctv.incident.fight:zone:jangan")
        mix = {
            "stations": {"aq-003": {"score": -0.2, "features": {}}, "aq-001": {"score": -0.1, "features": {}}}
        }
        for subject, details in (
            ("zone:jangan", mix),
            ("aq-009", {"features": {"no2": 3.1}}),
        ):  # a zone's; a station's
            store.apply(
                conn,
                Raise("aq.multivariate", subject, "aq", Severity.INFO, f"Unusual pollutant mix: {subject}",
                      Explanation("aq.multivariate", details=details)),
                now - timedelta(minutes=30),
            )  # fmt: skip
        store.apply(
            conn,
            Raise("zone.outage", "zone:old", "platform", Severity.CRITICAL, "Long ago", Explanation("zone.outage")),
            now - timedelta(days=3),
        )  # fmt: skip
        store.apply(
            conn, Clear("back"), now - timedelta(days=3) + timedelta(hours=1), key="zone.outage:zone:old"
        )
        conn.execute(
            "INSERT INTO maintenance (subject, starts_at, ends_at, reason, created_by)"
            " VALUES ('aq-001', now() - interval '1 hour', now() + interval '1 hour', 'sensor swap', 'operator')"
        )
    with api.client("operator") as op:
        op.post("/api/v1/alerts/bulk", json={"ids": ids[:3], "action": "acknowledge"})
        op.post(f"/api/v1/alerts/{ids[2]}/resolve", json={"note": "done"})
        op.post(f"/api/v1/alerts/{ids[4]}/comments", json={"text": "crew on the way"})
    with api.client("viewer") as v:
        r = v.get("/api/v1/alerts/report").json()  # the last 12 hours
        assert r["opened"] == 10 and r["opened_by_severity"] == {"info": 4, "warning": 2, "critical": 4}
        assert (r["escalated"], r["escalated_further"]) == (1, 1)
        assert r["mtta_s"] is not None and r["mttr_s"] is not None
        assert {(x["rule"], x["opened"], x["worst"], x["still_open"]) for x in r["by_rule"]} == {
            ("test.rule", 6, "critical", 5),
            ("zone.outage", 1, "critical", 0),
            ("cctv.incident.fight", 1, "critical", 0),
            ("aq.multivariate", 2, "info", 2),
        }
        assert r["by_rule"][0]["worst"] == "critical"
        open_ids = [a["id"] for a in r["still_open"]]
        mixes = {a["id"] for a in r["still_open"] if a["rule"] == "aq.multivariate"}
        assert len(mixes) == 2 and set(open_ids) == set(ids) - {ids[2]} | mixes
        assert r["still_open"][0]["severity"] == "critical"
        assert r["operators"] == [{"actor": "operator", "acknowledged": 3, "resolved": 1, "commented": 1}]
        # the episodes name what they stand for (a station's own unusual mix is not an episode)
        assert [(e["rule"], e["subject"], e["until"] is not None, e["involved"]) for e in r["episodes"]] == [
            ("cctv.incident.fight", "zone:jangan", True, ["cam-07", "cam-02", "cam-05"]),
            ("zone.outage", "zone:jangan", True, ["aq-001", "aq-002", "cam-04", "cam-05", "ps-101"]),
            ("aq.multivariate", "zone:jangan", False, ["aq-001", "aq-003"]),
        ]
        assert [m["reason"] for m in r["maintenance"]] == ["sensor swap"]
        md = v.get("/api/v1/alerts/report", params={"format": "markdown", "lang": "en"})
        assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
        text = md.text
        assert text.startswith("# Shift report") and "(KST)" in text
        assert "**10 alerts opened** — critical 4, warning 2, info 4; 1 escalated (1 beyond level 1)" in text
        assert "Zone outage: 5 of 8 devices offline" in text and "sensor swap" in text
        fight_line = next(x for x in text.splitlines() if "Fight seen by 3 cameras (critical)" in x)
        assert fight_line.startswith(f"- #{fight.id} ") and fight_line.endswith("; 3: cam-07, cam-02, cam-05")
        assert "ongoing; 2: aq-001, aq-003" in text
        assert "- operator: acknowledged 3, resolved 1, commented 1" in text
        korean = v.get("/api/v1/alerts/report", params={"format": "markdown"}).text  # the city's language
        assert korean.startswith("# 교대 보고서") and "(KST)" in korean
        assert "**경보 10건 발생** — 긴급 4, 경고 2, 정보 4; 상향 1건 (그중 2단계 이상 1건)" in korean
        assert "- operator: 확인 3, 해결 1, 메모 1" in korean and "진행 중; 2대: aq-001, aq-003" in korean
        # a range of its own
        week = v.get("/api/v1/alerts/report", params={"start": (now - timedelta(days=4)).isoformat()}).json()
        assert week["opened"] == 11 and len(week["episodes"]) == 4
        assert v.get("/api/v1/alerts/report", params={"format": "pdf"}).status_code == 422


def test_the_alarm_load_shows_what_spams_the_operators(api: Api) -> None:
    now = _now()
    flap = Raise(
        "parking.flapping", "sp-07", "parking", Severity.WARNING, "Flapping", Explanation("parking.flapping")
    )
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        t = interval_start(now - timedelta(hours=1)) + timedelta(minutes=1)  # one clock 10 minutes
        # opens, clears and comes back four times in 45 s: one alert, re-opened, chattering
        for k in range(4):
            store.apply(conn, flap, t + timedelta(seconds=15 * k))
            store.apply(conn, Clear("calm"), t + timedelta(seconds=15 * k + 5), key="parking.flapping:sp-07")
        for i in range(3):
            store.apply(
                conn,
                Raise("aq.spike", f"aq-{i}", "aq", Severity.INFO, "Spike", Explanation("aq.spike")),
                now - timedelta(minutes=30 - i),
            )
        conn.execute(  # under maintenance: its opening reaches nobody, and is not counted
            "INSERT INTO maintenance (subject, starts_at, ends_at, reason, created_by)"
            " VALUES ('aq-9', now() - interval '1 hour', now() + interval '1 hour', 'sensor swap', 'operator')"
        )
        store.apply(
            conn, Raise("aq.spike", "aq-9", "aq", Severity.INFO, "Spike", Explanation("aq.spike")), now
        )
        store.apply(  # live for two days: stale
            conn,
            Raise(
                "device.offline", "cam-3", "cctv", Severity.WARNING, "Offline", Explanation("device.offline")
            ),
            now - timedelta(days=2),
        )
    with api.client("viewer") as v:
        x = v.get("/api/v1/alerts/load").json()  # the last 24 hours
        assert x["annunciations"] == 7  # 4 flapping (1 opened, 3 re-opened) + 3 spikes; not the muted one
        assert x["per_10min"] == pytest.approx(7 / 144, abs=1e-3) and x["rating"] == "very likely acceptable"
        assert x["top"][0] == {
            "rule": "parking.flapping",
            "subject": "sp-07",
            "annunciations": 4,
            "share": 0.5714,
        }
        assert [(c["rule"], c["subject"], c["most_in_60s"]) for c in x["chattering"]] == [
            ("parking.flapping", "sp-07", 4)
        ]
        assert x["peak_10min"]["annunciations"] == 4 and x["floods"] == []
        assert x["severity_mix"] == {"info": 0.4286, "warning": 0.5714, "critical": 0.0}
        assert x["stale"] == 1
        week = v.get("/api/v1/alerts/load", params={"start": (now - timedelta(days=3)).isoformat()}).json()
        assert week["annunciations"] == 8  # the offline camera opened within it
        # a desk: the parking desk has the flapping sensor only; the CCTV desk, nothing; two operators
        parking = v.get("/api/v1/alerts/load", params={"kind": "parking", "operators": 2}).json()
        assert parking["annunciations"] == 4 and parking["operators"] == 2
        assert parking["per_10min"] == pytest.approx(4 / 144 / 2, abs=1e-3)
        assert v.get("/api/v1/alerts/load", params={"kind": "cctv"}).json()["annunciations"] == 0
        assert v.get("/api/v1/alerts/load", params={"operators": 0}).status_code == 422
        # alarms only (ISA-18.2): the info spikes ask no action and are left out; the stale camera stays
        urgent = v.get("/api/v1/alerts/load", params={"min_severity": "warning"}).json()
        assert urgent["annunciations"] == 4 and urgent["min_severity"] == "warning"
        assert urgent["severity_mix"]["info"] == 0.0 and urgent["stale"] == 1
        assert x["min_severity"] == "info"
        assert v.get("/api/v1/alerts/load", params={"min_severity": "critical"}).json()["annunciations"] == 0
        assert v.get("/api/v1/alerts/load", params={"min_severity": "loud"}).status_code == 422
        bad = v.get(
            "/api/v1/alerts/load",
            params={"start": now.isoformat(), "end": (now - timedelta(hours=1)).isoformat()},
        )
        assert bad.status_code == 422
        # the shift report carries it, and says it in its text
        r = v.get("/api/v1/alerts/report").json()
        assert r["load"]["annunciations"] == 7 and r["load"]["chattering"][0]["subject"] == "sp-07"
        text = v.get("/api/v1/alerts/report", params={"format": "markdown", "lang": "en"}).text
        assert "## Alarm load (ISA-18.2 / EEMUA 191)" in text and "**7 annunciations**" in text
        assert (
            "Of them warning or worse (the alarms, which ask an action): 4, 0.06 per 10 min" in text
        )  # 12 h
        assert x["warning_or_worse"] == 4 and x["warning_or_worse_rating"] == "very likely acceptable"
        assert "- chattering: parking.flapping on sp-07, 4 times within 60 s" in text
        assert "| parking.flapping | sp-07 | 4 | 57 % |" in text

    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:  # a district's desk
        store.apply(
            conn,
            Raise(
                "zone.outage",
                "zone:paldal",
                "platform",
                Severity.CRITICAL,
                "Outage",
                Explanation("zone.outage"),
            ),
            now,
        )
    with api.client("viewer") as v:
        paldal = v.get("/api/v1/alerts/load", params={"zone": "paldal"}).json()
        assert paldal["annunciations"] == 1 and paldal["top"][0]["subject"] == "zone:paldal"


def test_buses_and_boarding_bell(api: Api) -> None:
    now = _now()
    p = api.platform
    p.query(
        "INSERT INTO bus_positions (time, device_id, seq, route_id, lat, lon, speed_kmh, heading_deg, door_open, received_at)"
        " VALUES (%s, 'bus-0101', 1, 'R01', 37.3, 127.0, 30, 90, false, now()),"
        "        (%s, 'bus-0101', 2, 'R01', 37.31, 127.01, 25, 90, false, now()),"
        "        (%s, 'bus-0201', 1, 'R02', 37.2, 127.1, 0, 0, true, now())",
        now - timedelta(seconds=40),
        now - timedelta(seconds=10),
        now - timedelta(hours=2),
    )
    p.query(
        "INSERT INTO bell_requests (request_id, device_id, stop_id, route_id, status, bus_id, eta_s, requested_at, updated_at)"
        " VALUES ('r1', 'stop-0101', 'st-1', 'R01', 'assigned', 'bus-0101', 95, %s, %s),"
        "        ('r2', 'stop-0102', 'st-2', 'R01', 'fulfilled', 'bus-0101', NULL, %s, %s)",
        now - timedelta(minutes=2),
        now,
        now - timedelta(minutes=20),
        now - timedelta(minutes=15),
    )
    p.query(
        "INSERT INTO bell_passes (time, bus_id, route_id, stop_id, served, request_ids) VALUES"
        " (%s, 'bus-0101', 'R01', 'st-2', true, '{r2}'), (%s, 'bus-0102', 'R01', 'st-3', false, '{r3}')",
        now - timedelta(minutes=15),
        now - timedelta(minutes=5),
    )
    with api.client("viewer") as c:
        buses = c.get("/api/v1/buses").json()
        assert [(b["bus_id"], b["lat"]) for b in buses] == [("bus-0101", 37.31)]
        assert len(c.get("/api/v1/buses", params={"max_age_s": 86400}).json()) == 2
        open_ = c.get("/api/v1/bell/requests").json()
        assert [(r["request_id"], r["bus_id"], r["eta_s"]) for r in open_] == [("r1", "bus-0101", 95)]
        assert open_[0]["waiting_s"] >= 119
        stats = c.get("/api/v1/bell/passes/stats").json()
        assert [
            (s["route_id"], s["passes"], s["served"], s["no_stop_passes"], s["buses_passing"]) for s in stats
        ] in (
            [("R01", 2, 1, 1, ["bus-0102"])],
            [("R01", 1, 1, 0, []), ("R01", 1, 0, 1, ["bus-0102"])],  # the two passes straddle midnight KST
        )
