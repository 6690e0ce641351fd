"""Personal data kept only as long as allowed: licence plates read by CCTV analytics are erased from
their events after the configured hours (the events stay), and CCTV metadata is dropped after the
configured days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from analytics.service import AnalyticsService
from citywatch.contracts import messages as m
from citywatch.contracts.topics import DeviceKind, topic_for
from citywatch.db.features import drop_expired_chunks
from citywatch.settings import PrivacySettings
from ingest.decode import Accepted, DeviceInfo, Limits, Reason, decode
from simulators.publisher import Publisher
from tests.support import SECRET, IngestThread, Platform, wait_for


def event(
    cam: m.CctvEvent | None, device: str, zone: str, age: timedelta, n: int, plate: str | None
) -> m.CctvEvent:
    return m.CctvEvent(
        device_id=device, ts=datetime.now(UTC) - age, seq=n, event_id=f"evt-privacy-{n:04d}", confidence=0.9,
        event_type=m.CctvEventType.ILLEGAL_PARKING, object_class=m.ObjectClass.VEHICLE,
        bbox=m.BoundingBox(x=0.1, y=0.1, w=0.2, h=0.2), zone=zone, plate=plate,
    )  # fmt: skip


def test_plates_are_erased_after_their_hours_and_events_after_their_days(platform: Platform) -> None:
    p = platform
    cam = p.city.of_kind(DeviceKind.CCTV)[0]
    ages = {0: timedelta(days=4), 1: timedelta(hours=1), 2: timedelta(days=30), 3: timedelta(minutes=5)}
    plates = {0: "12가3456", 1: "34나5678", 2: "56다7890", 3: None}
    with IngestThread(p.settings()):
        pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
        pub.open([])
        for n, age in ages.items():
            ev = event(None, cam.device_id, cam.zone, age, n, plates[n])
            pub.send_raw(topic_for(DeviceKind.CCTV, cam.device_id), m.to_json(ev))
        assert pub.flush(10)
        assert wait_for(lambda: p.count("SELECT count(*) FROM cctv_events") == 4, 20)
        pub.close()

    def stored() -> dict[str, str | None]:
        return dict(p.query("SELECT event_id, plate FROM cctv_events ORDER BY event_id"))  # type: ignore[arg-type]

    assert stored()["evt-privacy-0000"] == "12가3456"  # stored as sent, until its time is up
    settings = p.settings()
    settings.privacy = PrivacySettings(plate_retention_h=72)
    AnalyticsService(settings).step(health=False)  # the analytics' citywide work erases them
    assert stored() == {
        "evt-privacy-0000": None,  # 4 days old: erased
        "evt-privacy-0001": "34나5678",  # 1 hour old: kept
        "evt-privacy-0002": None,
        "evt-privacy-0003": None,
    }
    # `citywatch db retention`: the 30-day-old event's chunk goes with a 7-day CCTV retention
    out = drop_expired_chunks(p.db_url, PrivacySettings(plate_retention_h=0.5, cctv_retention_days=7))
    assert out["plates_erased"] == 1  # the 1-hour-old plate, under a 30-minute rule
    assert out["cctv_events"] >= 1
    left = stored()
    assert "evt-privacy-0002" not in left and {
        "evt-privacy-0000",
        "evt-privacy-0001",
        "evt-privacy-0003",
    } <= set(left)
    assert all(v is None for v in left.values())


def test_a_plate_is_checked_like_any_field() -> None:
    now = datetime.now(UTC)
    registry = {"cam-1": DeviceInfo(DeviceKind.CCTV)}

    def body(plate: str) -> bytes:
        doc = orjson.loads(m.to_json(event(None, "cam-1", "market", timedelta(0), 1, None)))
        return orjson.dumps({**doc, "plate": plate})

    ok = decode(b"cw/v1/cctv/cam-1/event", body("12가3456"), now, registry, Limits())
    assert isinstance(ok, Accepted) and "12가3456" in ok.row
    bad = decode(b"cw/v1/cctv/cam-1/event", body("<script>"), now, registry, Limits())
    assert not isinstance(bad, Accepted) and bad.reason is Reason.INVALID_PAYLOAD and "plate" in bad.detail
