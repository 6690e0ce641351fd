"""Texts the services write (citywatch.i18n.Text): recorded in English as before, read in any language,
with places by name and times of day in the reader's zone."""

from __future__ import annotations

from datetime import UTC, datetime

from citywatch.i18n import Text, at, place, render, sentences
from citywatch.localtime import SEOUL

INCIDENT = sentences(
    Text("why.cctv.incident", {"n": 2, "window": 300.0, "cameras": 3, "since": at(datetime(2026, 12, 6, 14, 57, 57, tzinfo=UTC)),
                               "event": Text("cctv.kind.fall")}),
    Text("why.cctv.recurring", {"n": 3, "hours": 2.0, "quiet": 60.0}),
    None,  # an optional sentence left out
)  # fmt: skip


def test_recorded_in_english_as_before_read_in_korean_in_the_citys_time() -> None:
    assert render(INCIDENT) == (
        "2 cameras within 300s, 3 since 14:57:57 UTC; the zone's fall events are grouped here while it lasts"
        " — recurring: 3 times in 2 h; the alert stays open until 60 min without it"
    )
    assert render(INCIDENT, "ko", zone=SEOUL).startswith("300초 안에 카메라 2대, 23:57:57 KST부터 3대")


def test_a_text_survives_its_json_and_names_its_places_as_the_reader_knows_them() -> None:
    title = Text(
        "alert.cctv.incident",
        {"event": Text("cctv.kind.fight"), "n": 3, "zone": place("zone:paldal", "paldal")},
    )
    assert Text.from_json(title.as_json()) == title and Text.from_json(INCIDENT.as_json()) == INCIDENT
    assert render(title) == "Incident: fight seen by 3 cameras in paldal"
    assert render(title, "ko", {"zone:paldal": "팔달구"}.__getitem__) == "사건: 팔달구 카메라 3대에서 싸움"
    assert Text.from_json(["only a key"]) is None and Text.from_json("text") is None
