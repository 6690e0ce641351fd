"""A gateway's SenML packs end to end (gateway -> Mosquitto -> ingest -> TimescaleDB): every reading
is a row, a dead letter with its reason, or a counted duplicate; the broker lets a station publish
its own pack topic only; and a pack's readings count in each station's own sequence accounting."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import orjson
import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from citywatch import broker
from citywatch.contracts import messages as m
from citywatch.contracts.senml import to_pack
from citywatch.contracts.topics import DeviceKind, Stream, topic_for
from tests.support import SECRET, Platform, counters, wait_for


def connect(p: Platform, user: str) -> paho.Client:
    c = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{user}-{uuid.uuid4().hex[:6]}", protocol=paho.MQTTv5
    )
    c.username_pw_set(user, broker.derive_password(SECRET, user))
    ok = threading.Event()
    c.on_connect = lambda *_a: ok.set()
    c.connect("127.0.0.1", p.broker.port)
    c.loop_start()
    assert ok.wait(5)
    return c


def test_gateway_packs_are_stored_reading_by_reading(platform: Platform, run_ingest) -> None:  # type: ignore[no-untyped-def]
    stations = [d.device_id for d in platform.city.of_kind(DeviceKind.AIR_QUALITY)]
    gw, behind, other = stations[0], stations[1:3], stations[3]
    with psycopg.connect(platform.db_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE devices SET meta = meta || jsonb_build_object('gateway', %s::text) WHERE device_id = ANY(%s)",
            (gw, behind),
        )
    t0 = time.time() - 600
    good = [
        m.AirQualityReading(
            device_id=d, ts=datetime.fromtimestamp(t0 + 60 * k, UTC), seq=k, pm25=10.0 + k, pm10=20.0 + k
        )
        for k in range(5)
        for d in [gw, *behind]
    ]
    foreign = m.AirQualityReading(device_id=other, ts=datetime.fromtimestamp(t0, UTC), seq=1, pm25=1.0)
    pack = to_pack([*good, foreign])
    bad_reading = orjson.dumps(
        [
            {"bn": f"{behind[0]}:", "bt": t0 + 3600 * 24 * 365, "n": "seq", "v": 99},
            {"n": "pm25", "u": "%", "v": 1},
        ]
    )
    with run_ingest(platform.settings()):
        c = connect(platform, gw)
        topic = topic_for(DeviceKind.AIR_QUALITY, gw, Stream.PACK)
        for body in (pack, pack, bad_reading, b"[not json"):  # the second is a redelivery
            c.publish(topic, body, qos=1).wait_for_publish(5)
        # a station may not publish another station's pack topic (broker ACL: silently dropped)
        c.publish(topic_for(DeviceKind.AIR_QUALITY, behind[0], Stream.PACK), pack, qos=1).wait_for_publish(5)
        readings = 2 * (len(good) + 1) + 1 + 1
        assert wait_for(lambda: counters(platform)[0] >= readings, 30), counters(platform)
        time.sleep(0.5)
        c.disconnect()
        c.loop_stop()
    received, written, duplicates, dead = counters(platform)
    assert received == readings
    assert written == len(good) == platform.count("SELECT count(*) FROM air_quality")
    assert duplicates == len(good) + 1  # the redelivered pack: its readings, and its dead letter again
    assert dead == 3
    reasons = dict(platform.query("SELECT reason, count(*) FROM dead_letters GROUP BY 1"))
    assert reasons == {"device_mismatch": 1, "invalid_payload": 1, "malformed_json": 1}
    detail = platform.scalar("SELECT detail FROM dead_letters WHERE reason = 'device_mismatch'")
    assert detail == f"{other} is not behind gateway {gw}"
    rows = platform.query("SELECT device_id, seq, pm25, pm10 FROM air_quality ORDER BY device_id, seq")
    assert rows == sorted((r.device_id, r.seq, r.pm25, r.pm10) for r in good)
    # each station's stream accounting sees its own readings, in order, with no gaps
    streams = platform.query(
        "SELECT device_id, received, gaps FROM device_streams WHERE stream = 'telemetry' ORDER BY 1"
    )
    assert streams == sorted((d, 5, 0) for d in [gw, *behind])
