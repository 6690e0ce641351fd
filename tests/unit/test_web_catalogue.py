"""The web pages' message catalogue (api/web/messages.json): every key a page uses is there in Korean and
English, with the same placeholders; a catalogue with a gap is refused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import orjson

from alerts.model import AUDIT_ACTIONS, Severity, State
from analytics.airquality.cai import Grade
from api.security import Role
from citywatch.contracts.messages import CctvEventType
from citywatch.contracts.topics import DeviceKind
from citywatch.i18n import LANGUAGES, catalogue_problems

WEB = Path(__file__).resolve().parents[2] / "api" / "web"
CATALOGUE = orjson.loads((WEB / "messages.json").read_bytes())
# keys built from a value at run time: t(`severity.${a.severity}`) and the like, with every value they take
DYNAMIC = {
    "severity": [s.label for s in Severity],
    "state": [s.value for s in State],
    "role": [r.label for r in Role],
    "kind": [k.value for k in DeviceKind],
    "map.state": ["ok", "alerting", "offline"],
    "grade": [g.value for g in Grade],
    "lot": ["open", "almost_full", "full", "unknown"],
    "load": ["very_likely_acceptable", "manageable", "over_demanding"],  # the alarm load's ratings
    "event": [t.value for t in CctvEventType],
    "area": ["school", "park", "road", "market"],
    "audit": list(AUDIT_ACTIONS),
}


def used_keys() -> tuple[set[str], set[str]]:
    """The keys the pages name literally (``t("key")``, ``data-i18n="key"``, ``data-i18n-attr="attr:key"``),
    and the prefixes of those they build (``t(`severity.${…}`)``)."""
    literal, built = set(), set()
    for path in [*WEB.glob("*.js"), *WEB.glob("*.html")]:
        text = path.read_text(encoding="utf-8")
        literal |= set(re.findall(r"\bt\(\"([a-z0-9_.]+)\"", text))
        counted = set(re.findall(r"\btn\(\"([a-z0-9_.]+)\"", text))  # tn(key, n): key.one and key.other
        literal |= {f"{k}.{form}" for k in counted for form in ("one", "other")}
        literal |= set(re.findall(r"data-i18n=\"([a-z0-9_.]+)\"", text))
        for attrs in re.findall(r"data-i18n-attr=\"([^\"]+)\"", text):
            literal |= {pair.split(":", 1)[1] for pair in attrs.split()}
        built |= set(re.findall(r"\bt\(`([a-z0-9_.]+?)\.\$\{", text))
    return literal, built


def test_the_catalogue_is_whole_in_every_language() -> None:
    assert set(CATALOGUE) == set(LANGUAGES)
    assert catalogue_problems(CATALOGUE) == []


def test_every_key_a_page_uses_is_in_the_catalogue() -> None:
    literal, built = used_keys()
    assert len(literal) >= 100 and built == set(DYNAMIC)  # the scan found the pages' keys
    needed = literal | {f"{prefix}.{v}" for prefix in built for v in DYNAMIC[prefix]}
    for lang in LANGUAGES:
        assert sorted(needed - CATALOGUE[lang].keys()) == [], lang


def test_a_catalogue_with_a_gap_or_a_changed_placeholder_is_refused() -> None:
    good = {"ko": {"a": "{n}건 선택", "b": "확인"}, "en": {"a": "{n} selected", "b": "Acknowledge"}}
    assert catalogue_problems(good) == []
    assert catalogue_problems({"ko": good["ko"], "en": {"a": "{n} selected"}}) == ["en: b missing"]
    assert catalogue_problems({"ko": good["ko"], "en": {**good["en"], "a": "{count} selected"}}) == [
        "en: a has placeholders ['count'], ko has ['n']"
    ]
    assert catalogue_problems({"ko": good["ko"]}) == ["language 'en' missing"]
    assert catalogue_problems({**good, "fr": {"a": "{n}", "b": "x"}}) == [
        "language 'fr' is not one of citywatch's"
    ]
    assert catalogue_problems({"ko": {**good["ko"], "b": " "}, "en": good["en"]}) == ["ko: b is empty"]


def test_every_text_the_services_write_is_in_the_catalogue_in_every_language() -> None:
    """The texts of citywatch/texts.yaml (alert titles read in the reader's language): every key the code
    names, and every key it builds from a table (``Text(f"cctv.type.{scene}")``), in Korean and English."""
    from alerts.model import Event
    from analytics.airquality.advisory import RULES, Level
    from api.login_limit import _SCOPES
    from api.problems import _TITLES
    from citywatch.contracts.messages import CctvEventType
    from citywatch.i18n import texts

    built_from = {
        "cctv.type": [t.value for t in CctvEventType],
        "cctv.kind": [t.value for t in CctvEventType],
        "pollutant": list(RULES),
        "advisory": [lv.name.lower() for lv in Level if lv is not Level.NONE],
        "advisory.event": [
            "issued",
            "raised",
            "lowered",
            "lifted",
            "peaked",
            "confirmed",
        ],  # advisory.Event.kind
        "alert": ["aq.stuck", "aq.spike", "aq.drift", "aq.range"],  # the sensor-quality findings' rules
        "alert.parking": ["full", "almost_full"],  # a lot's status
        "role": [r.label for r in Role],
        "error.limited": ["logins", "sign_ins", "codes"],  # LoginLimiter.guard's ``what``
        "error.limited.scope": [s.replace(" ", "_") for s, _times, _where in _SCOPES],
        "error.state": [*(s.value for s in State), "absent"],
        "error.transition": [e.__name__.lower() for e in get_args(Event)],  # IllegalTransition's action
        "problem": [str(status) for status in _TITLES],
        "severity": [s.label for s in Severity],
        "validation": [
            "missing",
            "greater_than_equal",
            "string_too_long",
            "literal_error",
        ],  # pydantic's, some
    }
    literal, built = set(), set()
    for package in ("analytics", "alerts", "boarding", "citywatch", "api"):
        for path in (WEB.parents[1] / package).rglob("*.py"):
            code = path.read_text(encoding="utf-8")
            literal |= set(re.findall(r"\bText\(\s*\"([a-z0-9_.]+)\"", code))
            built |= set(re.findall(r"\bText\(\s*f\"([a-z0-9_.]+?)\.\{", code))
            literal |= set(
                re.findall(r"\"(why\.[a-z0-9_.]+)\"", code)
            )  # explanations, chosen by a condition too
    assert len(literal) >= 5 and built == set(built_from)  # the scan found the texts
    needed = literal | {f"{prefix}.{v}" for prefix in built for v in built_from[prefix]}
    catalogue = texts()  # itself checked: the same keys and placeholders in every language
    for lang in LANGUAGES:
        assert sorted(needed - catalogue[lang].keys()) == [], lang


def test_every_audit_action_the_code_records_is_a_known_one() -> None:
    """The actions written to the audit trail (``Audit("…")``, the API's and the store's SQL) are those of
    AUDIT_ACTIONS, which the console names in each language (the DYNAMIC keys above)."""
    written: set[str] = set()
    for package in ("alerts", "api", "analytics", "boarding"):
        for path in (WEB.parents[1] / package).rglob("*.py"):
            code = path.read_text(encoding="utf-8")
            written |= set(re.findall(r"\bAudit\(\s*\"([a-z_]+)\"", code))
            written |= set(re.findall(r"action = '([a-z_]+)'", code))
    assert {"opened", "acknowledged", "muted", "level_changed"} <= written  # the scan found them
    assert sorted(written - set(AUDIT_ACTIONS)) == []
