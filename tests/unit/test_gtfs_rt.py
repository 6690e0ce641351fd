"""The GTFS Realtime messages citywatch builds, read back with the reference bindings."""

from __future__ import annotations

from datetime import UTC, datetime

from google.transit import gtfs_realtime_pb2 as rt

from api import gtfs_rt
from citywatch.i18n import Text, render

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


def _say(text: Text, language: str) -> str:
    return render(text, language, {"stop-0101": "시청앞 승차벨"}.__getitem__)


def _read(msg: rt.FeedMessage) -> rt.FeedMessage:
    back = rt.FeedMessage()
    back.ParseFromString(msg.SerializeToString())
    return back


def test_a_panel_without_a_known_time_of_death_is_announced_without_a_period() -> None:
    """A panel whose going quiet has no time still names its stop and what to do; without an app gateway
    a passenger is told to wave, not to use an app that nobody runs."""
    msg = _read(
        gtfs_rt.bell_alerts(
            [{"device_id": "stop-0101", "stop_id": "st-0101", "since": None}], False, NOW, _say
        )
    )
    assert msg.header.timestamp == int(NOW.timestamp())
    a = msg.entity[0].alert
    assert len(a.active_period) == 0 and [s.stop_id for s in a.informed_entity] == ["st-0101"]
    said = {t.language: t.text for t in a.description_text.translation}
    assert said == {
        "ko": render(Text("gtfsrt.bell.wave"), "ko"),
        "en": render(Text("gtfsrt.bell.wave"), "en"),
    }
    assert {t.language: t.text for t in a.header_text.translation}["ko"] == "승차벨 고장: 시청앞 승차벨"


def test_no_bus_no_panel_down_is_an_empty_but_whole_feed() -> None:
    for msg in (gtfs_rt.vehicle_positions([], NOW), gtfs_rt.bell_alerts([], True, NOW, _say)):
        back = _read(msg)
        assert len(back.entity) == 0 and back.header.gtfs_realtime_version == "2.0"
        assert back.header.timestamp == int(NOW.timestamp())
