"""A garage that counts at its gates, end to end: registered through the API, its counter's reports
over MQTT with the counter's own credentials, ingest, a re-evaluation, then the lot as the API and
NGSI-LD serve it. Two weeks of a healthy counter, one report of twenty times its capacity, then the
counter stuck at its capacity."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from analytics.service import AnalyticsService
from citywatch import broker
from citywatch.devices import broker_accounts
from tests.support import GARAGE_EVERY, SECRET, Api, counters, garage_counts, wait_for

CAP = 577


def test_a_counted_garage_its_counter_faults_and_the_lot_it_serves(api: Api, run_ingest) -> None:  # type: ignore[no-untyped-def]
    p = api.platform
    p.query(
        "INSERT INTO parking_lots (lot_id, name, zone_id, lat, lon, capacity)"
        " VALUES ('garage-1', 'Central garage', 'jangan', 37.31, 126.83, %s)",
        CAP,
    )
    with api.client("admin") as c:
        r = c.post(
            "/api/v1/devices",
            json={"device_id": "gate-1", "kind": "parking", "name": "Central garage counter",
                  "lot_id": "garage-1", "expected_interval_s": 1800},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    start = end - timedelta(days=17)
    healthy = garage_counts(start, 2, CAP)
    faulty_at = len(healthy) // 2  # a weekday, mid-series: one report of twenty times its capacity
    series = [
        (t, 20 * CAP if i == faulty_at else occ, cap, e, x) for i, (t, occ, cap, e, x) in enumerate(healthy)
    ]
    t = series[-1][0]
    while t + GARAGE_EVERY < end:  # then stuck at its capacity
        t += GARAGE_EVERY
        series.append((t, CAP, CAP, None, None))
    p.broker.write_auth(broker_accounts(p.db_url))  # the counter's own account, as `make up` writes it
    p.broker.reload()
    with run_ingest(p.settings()):
        dev = paho.Client(CallbackAPIVersion.VERSION2, client_id="gate-1")
        dev.username_pw_set("gate-1", broker.derive_password(SECRET, "gate-1"))
        dev.connect("127.0.0.1", p.broker.port)
        dev.loop_start()
        infos = []
        for seq, (t, occ, cap, entries, exits) in enumerate(series):
            body = {"v": 1, "device_id": "gate-1", "ts": t.isoformat(), "seq": seq, "lot_id": "garage-1",
                    "occupied": occ, "capacity": cap}  # fmt: skip
            if entries is not None:
                body |= {"entries": entries, "exits": exits}
            infos.append(dev.publish("cw/v1/parking/gate-1/count", orjson.dumps(body), qos=1))
        for info in infos:
            info.wait_for_publish(10)
        assert wait_for(lambda: counters(p)[0] >= len(series), 60), counters(p)
        time.sleep(0.3)
        dev.loop_stop()
        dev.disconnect()
    assert p.query("SELECT count(*), max(occupied) FROM parking_counts WHERE lot_id = 'garage-1'") == [
        (len(series), 20 * CAP)
    ]
    AnalyticsService(p.settings()).evaluate_range(start - timedelta(minutes=1), end)
    alerts = {
        rule: (state, explanation)
        for rule, state, explanation in p.query(
            "SELECT rule, state, explanation FROM alerts WHERE subject = 'garage-1' ORDER BY id"
        )
    }
    assert alerts["parking.count_range"][0] == "resolved"
    assert "20.0× its capacity" in alerts["parking.count_range"][1]["message"]
    assert alerts["parking.count_stuck"][0] == "open"
    # one alert per fault of the lot, none per space: a garage that counts has no space sensors
    assert not p.query("SELECT rule FROM alerts WHERE rule = 'parking.stuck'")
    with api.client("viewer") as c:
        lot = {x["lot_id"]: x for x in c.get("/api/v1/parking/lots").json()}["garage-1"]
        assert (lot["counted_by"], lot["counter_fault"], lot["status"], lot["sensors"]) == (
            "gate-1",
            "parking.count_stuck",
            "unknown",  # a stuck counter's "full" is not told to drivers as the lot's
            0,
        )
        ent = {e["id"]: e for e in c.get("/ngsi-ld/v1/entities", params={"type": "OffStreetParking"}).json()}[
            "urn:ngsi-ld:OffStreetParking:garage-1"
        ]
        assert ent["totalSpotNumber"]["value"] == CAP and ent["status"]["value"] == ["unknown"]
        assert "refParkingSpot" not in ent or ent["refParkingSpot"] is None
