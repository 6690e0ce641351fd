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


def _korean(event: object) -> str:
    """An alert event's explanation as a Korean reader is given it (as the API renders it)."""
    from alerts.model import Raise

    assert isinstance(event, Raise)
    recorded = Text.from_json(event.explanation.details["text"]["message"])
    assert recorded is not None and render(recorded) == event.explanation.message  # recorded in English
    return render(recorded, "ko", zone=SEOUL)


def test_the_explanations_the_rules_write_read_in_korean() -> None:
    """Each rule's explanation, made by the rule's own function, is whole Korean sentences: Hangul, and no
    English word of the recorded text left in it (symbols, units and ids are the same in both)."""
    import re

    from analytics.airquality.advisory import Event, Level
    from analytics.rules import (
        advisory_event,
        data_event,
        loss_event,
        multivariate_event,
        offline_event,
        saturation_event,
        unusual_event,
    )

    t0 = datetime(2026, 12, 6, 5, tzinfo=UTC)
    full = Text("why.aq.full_scale", {"p": "CO", "full_scale": "50", "unit": "ppm"})
    events = {
        "advisory": advisory_event(
            "pm25", "zone:paldal", Event("lowered", Level.ADVISORY, Level.WARNING, t0, 80.0, Level.ADVISORY),
            t0, excluded={"aq-3": full}, readings={"aq-1": 80.0, "aq-2": 82.0},
        )[1],
        "saturation": saturation_event("aq-3", {"co": full}, 4, t0),
        "bad_data": data_event("device.bad_data", "aq-3", "aq", (12, "schema")),
        "clock": data_event("device.clock_skew", "aq-3", "aq", Text("why.device.clock_ahead", {"s": 95.0})),
        "unusual": unusual_event("aq-3", 61.0, 20.0, 5.2, t0),
        "multivariate": multivariate_event("aq-3", -2.5, {"no2": 6.1}, t0),
        "loss": loss_event("aq-3", "aq", 7, 9),
        "offline": offline_event("aq-3", "aq", 1800.0, t0, False),
    }  # fmt: skip
    said = {name: _korean(ev) for name, ev in events.items()}
    assert said["advisory"].startswith(
        "1시간 중앙값 80: 주의보 하향 — aq-3 제외: CO가 측정기 측정 범위 상한 50 ppm"
    )
    assert said["offline"] == "30분 동안 데이터 없음" and said["loss"].startswith("장치가 보낸 메시지 7건")
    english = re.compile(r"\b(the|of|in|its|for|where|hour|hours|min|readings?|station|peers?|analyser)\b")
    for name, text in said.items():
        assert re.search("[가-힣]", text) and not english.search(text), (name, text)
    from citywatch.i18n import texts

    whys = {k: v for k, v in texts()["ko"].items() if k.startswith("why.")}
    assert len(whys) >= 60 and all(re.search("[가-힣]", v) for v in whys.values())
