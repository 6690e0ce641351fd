"""An alert's procedure through the API and the console: the packaged checklist of its rule, in the
reader's language, ticked step by step with who and when in the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from alerts import store
from alerts.config import AlertRules
from alerts.model import Alert, Explanation, Raise, Severity
from citywatch.localtime import SEOUL
from tests.integration.test_console import sign_in
from tests.support import Api, shot


def fall_incident(api: Api) -> Alert:
    """A fall seen by three cameras of a zone, raised under its rule's policy as the analytics raise it."""
    rule = "cctv.incident.fall"
    ev = Raise(
        rule,
        "zone:gwonseon",
        "cctv",
        Severity.CRITICAL,
        "fall seen by 3 cameras in gwonseon",
        Explanation(
            rule=rule, message="fall, 3 cameras", details={"cameras": ["cam-001", "cam-002", "cam-003"]}
        ),
    )
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        a = store.apply(conn, ev, datetime.now(UTC), policy=AlertRules().policy_for(rule))
    assert a is not None
    return a


def test_the_procedure_is_read_in_the_readers_language_and_ticked_by_operators(api: Api) -> None:
    a = fall_incident(api)
    path = f"/api/v1/alerts/{a.id}"
    with api.client("operator") as op, api.client("viewer") as viewer:
        ko = viewer.get(path, headers={"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.8"}).json()["procedure"]
        en = viewer.get(path, headers={"Accept-Language": "en-GB,en;q=0.9"}).json()["procedure"]
        asked = viewer.get(path, params={"lang": "en"}, headers={"Accept-Language": "ko-KR"}).json()[
            "procedure"
        ]
        city = viewer.get(path, headers={"Accept-Language": "fr-FR"}).json()[
            "procedure"
        ]  # the city's: Korean
        assert (ko["language"], en["language"], asked["language"], city["language"]) == (
            "ko",
            "en",
            "en",
            "ko",
        )
        assert len(ko["steps"]) == len(en["steps"]) == 6 and asked == en and city == ko
        # a fall is a medical emergency: 119, in both languages, the incident's own step first
        call = next(s for s in ko["steps"] if "119" in s["text"])
        assert (
            call["step"] == 3 and "119" in en["steps"][2]["text"] and not any(s["done"] for s in ko["steps"])
        )
        assert viewer.get(path, params={"lang": "fr"}).status_code == 422

        assert viewer.post(f"{path}/procedure/3", json={"done": True}).status_code == 403  # viewers read
        r = op.post(f"{path}/procedure/3", json={"done": True}, headers={"Accept-Language": "en"})
        assert r.status_code == 200, r.text
        step = r.json()["procedure"]["steps"][2]
        assert (step["done"], step["by"], r.json()["procedure"]["language"]) == (True, "operator", "en")
        op.post(f"{path}/procedure/1")  # no body: done
        op.post(f"{path}/procedure/1", json={"done": False})  # un-ticked again
        after = op.get(path).json()
        assert [s["done"] for s in after["procedure"]["steps"]] == [False, False, True, False, False, False]
        trail = [(e["action"], e["detail"]) for e in after["audit"] if e["action"].startswith("step")]
        assert trail == [
            ("step_done", f"3. {ko['steps'][2]['text']}"),  # in the city's language
            ("step_done", f"1. {ko['steps'][0]['text']}"),
            ("step_undone", f"1. {ko['steps'][0]['text']}"),
        ]
        missing = op.post(f"{path}/procedure/7")
        assert missing.status_code == 404 and "7단계가 없습니다 (6단계까지 있음)" in missing.json()["detail"]
        assert op.post(f"{path}/procedure/0").status_code == 404
        assert op.post("/api/v1/alerts/999999/procedure/1").status_code == 404


def test_an_alert_without_a_procedure_has_none_to_tick(api: Api) -> None:
    ev = Raise("test.rule", "aq-001", "aq", Severity.WARNING, "t", Explanation(rule="test.rule"))
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        a = store.apply(conn, ev, datetime.now(UTC), policy=AlertRules().policy_for("test.rule"))
    assert a is not None
    with api.client("operator") as op:
        assert op.get(f"/api/v1/alerts/{a.id}").json()["procedure"] is None
        r = op.post(f"/api/v1/alerts/{a.id}/procedure/1")
        assert r.status_code == 404 and "(대응 절차 없음)" in r.json()["detail"]


def test_a_korean_operator_ticks_the_procedure_in_the_console(api: Api, browser_ko: WebDriver) -> None:
    a = fall_incident(api)
    wait = sign_in(browser_ko, api, "operator", who="operator (관제요원)")
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f"#alerts tr[data-id='{a.id}']"))).click()
    box = wait.until(ec.element_to_be_clickable((By.ID, "step-3")))
    section = browser_ko.find_element(By.CSS_SELECTOR, "#detail .procedure")
    assert section.get_attribute("lang") == "ko"
    assert "119" in browser_ko.find_element(By.CSS_SELECTOR, "label[for='step-3']").text
    box.click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "toast"), "3단계 완료"))  # the act, confirmed visibly
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#detail .procedure h4"), "(1/6)"))
    ticked = browser_ko.find_element(By.CSS_SELECTOR, "#detail .procedure li.done")
    assert "operator" in ticked.text and "119" in ticked.text
    trail = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, "#detail ol.audit").text)
    wait.until(lambda b: "절차 완료 (operator)" in b.find_element(By.CSS_SELECTOR, "#detail ol.audit").text)
    assert "발생 (system)" in trail and "opened" not in trail  # the trail's actions in Korean too
    shot(browser_ko, "alert-procedure-ko")


def test_each_person_reads_the_console_in_their_language(api: Api) -> None:
    public = httpx.get(f"{api.url}/api/v1/i18n").json()  # before anyone signs in
    assert (public["default"], public["timezone"]) == ("ko", "Asia/Seoul")
    assert [(x["code"], x["name"]) for x in public["languages"]] == [("ko", "한국어"), ("en", "English")]
    assert (
        public["messages"]["ko"]["nav.inbox"] == "경보" and public["messages"]["en"]["nav.inbox"] == "Alerts"
    )
    with api.client("operator") as op:
        assert (
            op.get("/api/v1/auth/me").json()["language"] is None
        )  # not chosen: the browser's, else the city's
        assert op.patch("/api/v1/auth/me", json={"language": "en"}).json()["language"] == "en"
        assert op.get("/api/v1/auth/me").json()["language"] == "en"
        assert op.patch("/api/v1/auth/me", json={"language": "fr"}).status_code == 422
    with api.client("viewer") as v:
        assert v.get("/api/v1/auth/me").json()["language"] is None  # one person's choice is theirs alone
        assert (
            v.patch("/api/v1/auth/me", json={"language": "ko"}).json()["language"] == "ko"
        )  # viewers choose too
    key = api.client().post("/api/v1/api-keys", json={"name": "grafana", "role": "viewer"}).json()["key"]
    r = httpx.patch(f"{api.url}/api/v1/auth/me", json={"language": "en"}, headers={"X-API-Key": key})
    assert r.status_code == 403 and "저장할 계정이 없습니다" in r.json()["detail"]


def test_a_korean_operator_reads_the_console_in_korean_and_may_switch(
    api: Api, browser_ko: WebDriver
) -> None:
    a = fall_incident(api)
    b = browser_ko
    wait = sign_in(b, api, "operator", who="operator (관제요원)")
    assert b.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ko"
    assert [x.text for x in b.find_elements(By.CSS_SELECTOR, "#tabs button")] == [
        "경보",
        "지도",
        "현황판",
        "유지보수",
        "규칙",
    ]
    row = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f"#alerts tr[data-id='{a.id}']")))
    assert "긴급" in row.text and "발생" in row.text
    assert "권선구" in row.text and "zone:gwonseon" not in row.text  # a place, not an id
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#counts .count.critical"), "1 긴급"))
    opened = datetime.fromisoformat(api.client("viewer").get(f"/api/v1/alerts/{a.id}").json()["opened_at"])
    assert opened.astimezone(SEOUL).strftime("%H:%M") in row.text  # the city's time, whatever the machine's
    row.click()
    wait.until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#detail .procedure h4"), "조치 절차 (0/6)")
    )
    shot(b, "inbox-ko")
    Select(b.find_element(By.ID, "lang")).select_by_value("en")
    wait.until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#tabs button[data-view='inbox']"), "Alerts")
    )
    wait.until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#detail .procedure h4"), "What to do (0/6)")
    )
    assert (
        "call 119 for an ambulance" in b.find_element(By.CSS_SELECTOR, "#detail .procedure").text
    )  # the API answers in English
    assert api.client("operator").get("/api/v1/auth/me").json()["language"] == "en"  # kept for the account
    b.refresh()
    wait.until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#tabs button[data-view='inbox']"), "Alerts")
    )
    assert b.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"


def test_alert_titles_are_read_in_the_readers_language_with_place_names(api: Api) -> None:
    from analytics.cctv import CctvConfig, CctvRules
    from tests.support import NOON_KST, ev

    cam = next(d for d in api.platform.city.devices if d.kind == "cctv")
    rules = CctvRules(CctvConfig())
    raised = [
        x
        for x in rules.on_event(ev(NOON_KST, "fire", cam=cam.device_id, zone=cam.zone))
        if x[0].startswith("cctv.fire")
    ]
    assert raised, "the fire event raised its alert"
    _key, event, at = raised[0]
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        a = store.apply(conn, event, at)
    assert a is not None and a.title == f"Fire at {cam.device_id}"  # recorded in English, by id
    with api.client("viewer") as v:
        ko = v.get(f"/api/v1/alerts/{a.id}", headers={"Accept-Language": "ko"}).json()
        en = v.get(f"/api/v1/alerts/{a.id}", params={"lang": "en"}).json()
        listed = v.get("/api/v1/alerts", headers={"Accept-Language": "ko"}).json()["items"]
    assert ko["title"] == f"{cam.name} 화재"  # the camera by the name people know it by
    assert en["title"] == f"Fire at {cam.name}"
    assert [x["title"] for x in listed if x["id"] == a.id] == [ko["title"]]
    zone = api.platform.query("SELECT name FROM zones WHERE zone_id = %s", cam.zone)[0][0]
    assert ko["explanation"]["message"] == f"{zone} 구역에서 화재 감지 (신뢰도 0.90)"  # why, in Korean too
    assert en["explanation"]["message"] == f"fire with confidence 0.90 in zone {zone}"


def test_the_audit_trail_says_what_the_system_did_in_the_readers_language(api: Api) -> None:
    """Why an alert cleared, the level it went to: the system's words in the trail are catalogue texts,
    given in the reader's language (a person's note as written)."""
    from analytics.airquality.advisory import Event, Level
    from analytics.rules import advisory_event

    t0 = datetime(2026, 12, 6, 5, tzinfo=UTC)
    key, warning = advisory_event(
        "pm25", "zone:paldal", Event("issued", Level.WARNING, Level.NONE, t0, 160.0, Level.WARNING), None
    )
    _key, lowered = advisory_event(
        "pm25", "zone:paldal", Event("lowered", Level.ADVISORY, Level.WARNING, t0, 80.0, Level.ADVISORY), t0
    )
    _key, lifted = advisory_event(
        "pm25", "zone:paldal", Event("lifted", Level.NONE, Level.ADVISORY, t0, 30.0, Level.NONE), t0
    )
    policy = AlertRules().policy_for(key.split(":", 1)[0])
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        now = datetime.now(UTC)
        for minutes, ev in enumerate((warning, lowered, lifted)):
            a = store.apply(conn, ev, now + timedelta(minutes=minutes), key=key, policy=policy)
    assert a is not None
    with api.client("viewer") as viewer:
        ko = viewer.get(f"/api/v1/alerts/{a.id}").json()["audit"]  # the city's language
        en = viewer.get(f"/api/v1/alerts/{a.id}", params={"lang": "en"}).json()["audit"]
    said = {
        e["action"].replace("auto_resolved", "cleared").replace("condition_cleared", "cleared"): e["detail"]
        for e in ko
    }
    assert said["opened"] == "초미세먼지(PM2.5) 경보: 팔달구" or said["opened"].startswith(
        "초미세먼지(PM2.5) 경보:"
    )
    assert (
        said["level_changed"].startswith("초미세먼지(PM2.5) 경보:")
        and "→ 초미세먼지(PM2.5) 주의보" in said["level_changed"]
    )
    assert said["cleared"] == "초미세먼지(PM2.5) 주의보·경보 해제 (30)"
    english = {
        e["action"].replace("auto_resolved", "cleared").replace("condition_cleared", "cleared"): e["detail"]
        for e in en
    }
    assert english["cleared"] == "PM2.5 (초미세먼지) advisory lifted at 30"
    assert english["level_changed"].startswith("PM2.5 (초미세먼지) warning (경보)")
