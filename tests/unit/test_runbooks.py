"""Procedures (alerts/runbooks.py): every rule citywatch raises and every CCTV event type has one, in
Korean and English, with the right emergency number; a centre's own wins only where it is as specific."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts import runbooks
from alerts.runbooks import Procedure, procedure, procedure_for, ticked
from analytics.airquality.advisory import RULES as ADVISORIES
from analytics.shapes import ShapeConfig
from citywatch.contracts.messages import CctvEventType
from citywatch.i18n import LANGUAGES
from citywatch.strict import RulesError

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ("aq", "cctv", "parking", "bus", "device", "zone", "platform")
# audit actions and API verbs that look like rule names but are not alerts
NOT_RULES = {"zone.put", "lot.put", "device.update", "device.rotate_credentials", "device.retire",
             "device.register", "device.import"}  # fmt: skip


def rules_in_the_code() -> set[str]:
    """Every rule name the analytics, the boarding bell and the alerts' own watchers write literally, and
    those they build from a table: advisories per pollutant, shapes per pollutant, CCTV events and incidents
    per event type."""
    literal = re.compile(r'"((?:' + "|".join(FAMILIES) + r')\.[a-z_0-9.]*[a-z_0-9])"')
    found: set[str] = set()
    for package in ("analytics", "boarding", "alerts"):
        for path in (ROOT / package).rglob("*.py"):
            found |= set(literal.findall(path.read_text(encoding="utf-8")))
    found -= NOT_RULES
    found = {r for r in found if r not in ("aq.advisory", "parking.count", "cctv.incident")}  # prefixes
    found |= {f"aq.advisory.{p}" for p in ADVISORIES}
    found |= {f"aq.shape.{p}" for p in ShapeConfig().pollutants}
    found |= {f"cctv.{t.value}" for t in CctvEventType}
    found |= {f"cctv.incident.{t.value}" for t in CctvEventType}
    return found


def test_every_rule_and_event_type_has_a_procedure_in_every_language() -> None:
    rules = rules_in_the_code()
    assert len(rules) >= 50, sorted(rules)  # the scan found the rules (a broken pattern would find none)
    missing = {
        r: lang for r in rules for lang in LANGUAGES if not (procedure_for(r, {}) or Procedure({})).read(lang)
    }
    assert missing == {}
    for r in rules:
        p = procedure_for(r, {})
        assert p is not None and set(p.steps) == set(LANGUAGES), r
        assert all(len(p.steps[lang]) == len(p) for lang in LANGUAGES), r  # a tick is the same step in both


@pytest.mark.parametrize("kind", list(CctvEventType))
def test_each_cctv_event_type_has_its_own_procedure(kind: CctvEventType) -> None:
    """Not the generic camera steps: each event type calls its own emergency service."""
    own = runbooks.packaged().get(f"cctv.{kind.value}")
    assert own is not None and len(own) >= 3, kind


@pytest.mark.parametrize(
    ("rule", "call", "not_first"),
    [
        ("cctv.fall", "119", "112"),  # a fall is a medical emergency: the ambulance first
        ("cctv.incident.fall", "119", "112"),  # also when three cameras see it
        ("cctv.fire", "119", None),
        ("cctv.incident.fire", "119", None),
        ("cctv.smoke", "119", None),
        ("cctv.fight", "112", "119"),  # the police first, the ambulance for the hurt
        ("cctv.incident.fight", "112", "119"),
        ("cctv.intrusion", "112", None),
        ("cctv.wrong_way", "112", None),
        ("aq.saturation", "119", None),
    ],
)
def test_the_emergency_number_is_the_right_one(rule: str, call: str, not_first: str | None) -> None:
    p = procedure_for(rule, {})
    assert p is not None
    for lang in LANGUAGES:
        steps = p.read(lang)
        first = next(i for i, s in enumerate(steps) if call in s)
        if not_first is not None:
            other = [i for i, s in enumerate(steps) if not_first in s and call not in s]
            assert all(i > first for i in other), (rule, lang, steps)


def test_an_incident_is_its_own_steps_then_its_event_types() -> None:
    cat = runbooks.packaged()
    fall = procedure_for("cctv.incident.fall", {})
    assert fall == cat["cctv.incident"] + cat["cctv.fall"]
    assert fall is not None and "119" in " ".join(fall.read("ko")) and "112" not in fall.read("ko")[0]
    # an event type without its own steps gets the generic camera steps after the incident's
    generic = procedure_for(
        "cctv.incident.new_kind", {}, {"cctv": cat["cctv"], "cctv.incident": cat["cctv.incident"]}
    )
    assert generic == cat["cctv.incident"] + cat["cctv"]


def test_the_centres_own_procedure_wins_where_it_is_as_specific() -> None:
    mine = procedure("우리 센터 절차: 상황실장에게 보고", "test")
    cat = runbooks.packaged()
    assert procedure_for("cctv.fire", {"cctv.fire": mine}) == mine  # as specific: the centre's
    assert procedure_for("cctv.fire", {"cctv": mine}) == cat["cctv.fire"]  # a family does not hide a type
    assert procedure_for("cctv.incident.fall", {"cctv.incident": mine}) != mine
    assert procedure_for("cctv.incident.fall", {"cctv.incident.fall": mine}) == mine
    assert procedure_for("aq.stuck", {"aq": mine}) == mine  # the packaged one is a family too: a tie
    assert procedure_for("nothing.here", {}) is None


def test_a_procedure_as_a_file_writes_it() -> None:
    one = procedure("Call the duty officer", "p")
    assert one.steps == {lang: ("Call the duty officer",) for lang in LANGUAGES}
    assert procedure({"ko": ["가", "나"]}, "p").read("en") == ("가", "나")  # the other language falls back
    with pytest.raises(RulesError) as e:
        procedure({"ko": ["가"]}, "runbooks.x", complete=True)
    assert e.value.where == "runbooks.x.en"
    with pytest.raises(RulesError) as e:
        procedure({"ko": ["가", "나"], "en": ["a"]}, "runbooks.x")
    assert e.value.where == "runbooks.x" and "ko: 2, en: 1" in e.value.problem
    with pytest.raises(RulesError) as e:
        procedure({"ko": ["가", "  "], "en": ["a", "b"]}, "runbooks.x")
    assert e.value.where == "runbooks.x.ko"


def test_ticks_come_from_the_audit_trail_the_last_word_per_step_counts() -> None:
    t = [datetime(2026, 12, 6, h, tzinfo=UTC) for h in range(5)]
    trail = [
        {"action": "acknowledged", "actor": "kim", "at": t[0], "detail": ""},
        {"action": "step_done", "actor": "kim", "at": t[1], "detail": "1. 영상을 띄운다"},
        {"action": "step_done", "actor": "lee", "at": t[2], "detail": "2. 119에 신고한다"},
        {"action": "step_undone", "actor": "lee", "at": t[3], "detail": "1. 영상을 띄운다"},
        {"action": "commented", "actor": "lee", "at": t[3], "detail": "3. not a step"},
        {"action": "step_done", "actor": "park", "at": t[4], "detail": "12. 기록한다"},
    ]
    assert ticked(trail) == {2: ("lee", t[2]), 12: ("park", t[4])}
