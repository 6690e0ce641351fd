"""The operator console in a real browser (Debian's headless Chromium driven through Debian's
chromedriver by Selenium) against the real API, database and broker: sign in, an alert raised by a
simulated device appears live and is acknowledged by a click, a viewer sees no action buttons.
Screenshots of every page land in test-artifacts/screenshots/."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from alerts import store
from alerts.model import Explanation, Policy, Raise, Resolve, Severity, Tick
from alerts.runbooks import procedure
from tests.support import ARTIFACTS, PASSWORDS, Api, fire_alert_through_mqtt, shot


def sign_in(b: WebDriver, api: Api, user: str, who: str | None = None) -> WebDriverWait[WebDriver]:
    """Sign ``user`` in; ``who``: how the page then names them (in English: ``operator (operator)``)."""
    wait = WebDriverWait(b, 15)
    b.get(f"{api.url}/console")
    wait.until(ec.visibility_of_element_located((By.ID, "username"))).send_keys(user)
    b.find_element(By.ID, "password").send_keys(PASSWORDS[user])
    b.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "who"), who or f"{user} ({user})"))
    wait.until(ec.visibility_of_element_located((By.ID, "inbox")))
    return wait


def test_an_alert_from_a_device_appears_live_and_is_acknowledged_by_a_click(
    api: Api, browser: WebDriver, run_ingest
) -> None:  # type: ignore[no-untyped-def]
    p = api.platform
    wait = sign_in(browser, api, "operator")
    wait.until(ec.text_to_be_present_in_element((By.ID, "alerts"), "No alerts."))
    wait.until(
        lambda b: "on" in b.find_element(By.ID, "live").get_attribute("class")
    )  # the stream is connected
    shot(browser, "console-inbox-empty")
    browser.execute_script("window.__sameDocument = true")  # gone if the page reloads
    cam = fire_alert_through_mqtt(p)  # MQTT -> ingest -> TimescaleDB -> analytics -> alert -> stream -> page
    alert_id = p.scalar("SELECT id FROM alerts WHERE rule = 'cctv.fire'")
    row = (By.CSS_SELECTOR, f"#alerts tr[data-id='{alert_id}']")
    wait.until(ec.presence_of_element_located(row))  # appeared without a reload
    assert browser.execute_script("return window.__sameDocument === true")  # no reload happened
    assert "critical" in browser.find_element(*row).text.lower()
    # the zone filter keeps it (the camera is in that zone) and another zone hides it
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, "zone-filter")).select_by_value(cam.zone)
    wait.until(ec.presence_of_element_located(row))
    other = next(z for z in {d.zone for d in p.city.devices} if z != cam.zone)
    Select(browser.find_element(By.ID, "zone-filter")).select_by_value(other)
    wait.until(ec.invisibility_of_element_located(row))
    Select(browser.find_element(By.ID, "zone-filter")).select_by_value("")
    wait.until(ec.presence_of_element_located(row))
    assert "Critical alert" in browser.find_element(By.ID, "announce").get_attribute("textContent")
    shot(browser, "console-inbox-live-alert")
    browser.find_element(*row).click()
    wait.until(ec.element_to_be_clickable((By.ID, "ack"))).click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "detail"), "acknowledged by operator"))
    shot(browser, "console-alert-detail")
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.token('viewer')}"}) as c:
        a = c.get(f"/api/v1/alerts/{alert_id}").json()
    assert (a["state"], a["acknowledged_by"]) == ("acknowledged", "operator")
    assert (
        browser.find_element(By.CSS_SELECTOR, f"#alerts tr[data-id='{alert_id}']").get_attribute("data-state")
        == "acknowledged"
    )
    # the other views
    browser.find_element(By.CSS_SELECTOR, "#tabs button[data-view='map']").click()
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#citymap .mk, #citymap .marker-cluster"))
    shot(browser, "console-map")
    browser.find_element(By.CSS_SELECTOR, "#tabs button[data-view='boards']").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "b-parking"), "Occupancy"))
    shot(browser, "console-boards")


def test_a_viewer_sees_the_explanation_and_chart_but_no_action_buttons(api: Api, browser: WebDriver) -> None:
    now = datetime.now(UTC)
    api.platform.query(
        "INSERT INTO air_quality (time, device_id, seq, pm25, received_at)"
        " SELECT %s - i * interval '1 minute', 'aq-001', i, 41.0, now() FROM generate_series(0, 180) i",
        now,
    )
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        why = Explanation(rule="aq.stuck", observed=41.0, threshold=60.0, window_end=now,
                          details={"metric": "pm25"}, message="flat for 3 h")  # fmt: skip
        stuck = Raise("aq.stuck", "aq-001", "aq", Severity.WARNING, "Air-quality sensor stuck", why)
        before = store.apply(conn, stuck, now - timedelta(days=2))  # it happened before, and was fixed
        assert before is not None
        store.apply(
            conn,
            Resolve("kim", "fan cleaned"),
            now - timedelta(days=2) + timedelta(hours=1),
            alert_id=before.id,
        )
        a = store.apply(conn, stuck, now)
    assert a is not None
    wait = sign_in(browser, api, "viewer")
    row = (By.CSS_SELECTOR, f"#alerts tr[data-id='{a.id}']")
    wait.until(ec.presence_of_element_located(row)).click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "detail"), "flat for 3 h"))
    wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "#detail figure svg polyline"))
    )  # the data window
    assert "pm25" in browser.find_element(By.CSS_SELECTOR, "#detail figcaption").text
    assert "Earlier on aq-001 (1)" in browser.find_element(By.ID, "detail").text
    assert "resolved by kim: fan cleaned" in browser.find_element(By.ID, "detail").text
    for button in ("ack", "resolve", "assign", "comment"):
        assert browser.find_elements(By.ID, button) == [], f"a viewer sees {button}"
    assert not browser.find_element(By.ID, "bulk-ack").is_displayed()  # nor acts on many
    assert not any(b.is_displayed() for b in browser.find_elements(By.CSS_SELECTOR, "#alerts .pick"))
    shot(browser, "console-viewer-detail")


def test_an_unusual_pattern_alert_draws_the_new_stretches_against_the_closest_known_pattern(
    api: Api, browser: WebDriver
) -> None:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    api.platform.query(
        "INSERT INTO air_quality (time, device_id, seq, pm25, received_at)"
        " SELECT %s - i * interval '10 minutes', 'aq-002', i, 20 + 10 * sin(i / 20.0), now()"
        " FROM generate_series(0, 300) i",
        now,
    )
    segments, shape, nearest = [1, 3, 9, 27], [48.0, 30.0, 22.0, 21.0], [21.0, 24.0, 22.5, 20.0]
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        why = Explanation(rule="aq.shape.pm25", observed=48.0, baseline=21.0, threshold=6.0,
                          window_start=now - timedelta(hours=40), window_end=now,
                          details={"pollutant": "pm25", "segments_h": segments, "shape": shape, "nearest": nearest,
                                   "new_segments_h": [1, 3]},
                          message="PM2.5 48 µg/m³: a 40-hour pattern never seen at this station")  # fmt: skip
        a = store.apply(
            conn,
            Raise("aq.shape.pm25", "aq-002", "aq", Severity.INFO, "Unusual PM2.5 pattern: aq-002", why),
            now,
        )
    assert a is not None
    wait = sign_in(browser, api, "viewer")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"#alerts tr[data-id='{a.id}']"))).click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "detail"), "never seen at this station"))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#detail figure svg polyline.data")))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#detail figure svg polyline.known")) == len(segments)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#detail figure svg polyline.new")) == 2  # the new ones
    assert "closest pattern" in browser.find_element(By.CSS_SELECTOR, "#detail figcaption").text
    shot(browser, "console-unusual-pattern")


def test_a_zone_outage_lists_the_devices_it_explains(api: Api, browser: WebDriver) -> None:
    from analytics.outage import Device, OutageConfig, outages

    now = datetime.now(UTC)
    devices = [
        Device(f"aq-00{i}", "aq", "z1", True, now - timedelta(minutes=2) if i < 4 else None) for i in range(6)
    ]
    (o,) = outages(devices, set(), OutageConfig()).values()
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        power = procedure("Check the zone's power", "test")
        chain = Policy(runbook=power, escalate_after_s=60, escalate_again_after_s=(60,))
        a = store.apply(conn, o.event(Severity.CRITICAL), now, policy=chain)
        assert a is not None
        for s in (61, 122):  # nobody answers: level 1, then level 2
            store.apply(conn, Tick(), now + timedelta(seconds=s), alert_id=a.id, policy=chain)
    (step,) = api.client("viewer").get(f"/api/v1/alerts/{a.id}").json()["procedure"]["steps"]
    assert (step["text"], step["done"]) == ("Check the zone's power", False)
    wait = sign_in(browser, api, "viewer")
    row = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, f"#alerts tr[data-id='{a.id}']")))
    assert row.find_element(By.CSS_SELECTOR, ".escalated-tag").text == "▲2"  # unanswered: up its chain
    row.click()
    wait.until(
        ec.text_to_be_present_in_element((By.ID, "detail"), "Zone outage: 4 of 6 devices offline in z1")
    )
    detail = browser.find_element(By.ID, "detail").text
    assert "aq-000, aq-001, aq-002, aq-003" in detail and "power or network outage" in detail
    assert "What to do (0/1)\nCheck the zone's power" in detail
    assert "Escalated\nlevel 2" in detail and "level 2: unacknowledged 60s after level 1" in detail
    shot(browser, "console-zone-outage")


def test_a_cctv_incident_lists_its_cameras_first_one_first(api: Api, browser: WebDriver) -> None:
    from analytics.cctv import CctvEvent, CctvRules

    now = datetime.now(UTC)
    rules = CctvRules()
    events = []
    for i, cam in enumerate(["cam-104", "cam-102", "cam-103"]):
        events += rules.on_event(
            CctvEvent(cam, now + timedelta(seconds=20 * i), "fight", 0.9, "z1", "market")
        )
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        for key, ev, at in events:
            store.apply(conn, ev, at, key=key)
    (incident,) = api.platform.query("SELECT id FROM alerts WHERE rule = 'cctv.incident.fight'")
    wait = sign_in(browser, api, "viewer")
    wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f"#alerts tr[data-id='{incident[0]}']"))
    ).click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "detail"), "Incident: fight seen by 3 cameras in z1"))
    assert "Cameras\ncam-102, cam-103, cam-104 (first)" in browser.find_element(By.ID, "detail").text
    # the incident told the operator once: the second and third cameras opened no alert of their own
    assert [s for (s,) in api.platform.query("SELECT subject FROM alerts WHERE rule = 'cctv.fight'")] == [
        "cam-104"
    ]


def clicker(browser: WebDriver) -> Callable[[tuple[str, str]], bool]:
    """Click what ``locator`` finds, for ``WebDriverWait.until``: the live stream re-renders the page, so a
    stale element is found again on the next try."""

    def click(locator: tuple[str, str]) -> bool:
        browser.find_element(*locator).click()
        return True

    return click


def test_an_operator_acknowledges_a_storm_of_alerts_at_once(api: Api, browser: WebDriver) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        ids = []
        for i in range(4):
            a = store.apply(
                conn,
                Raise("cctv.loitering", f"cam-00{i}", "cctv", Severity.WARNING, f"Loitering {i}",
                      Explanation("cctv.loitering")),
                now,
            )  # fmt: skip
            assert a is not None
            ids.append(a.id)
    sign_in(browser, api, "operator")
    wait = WebDriverWait(browser, 10, ignored_exceptions=[StaleElementReferenceException])
    click = clicker(browser)

    for i in ids[:3]:  # three of the four
        wait.until(lambda b, i=i: click((By.CSS_SELECTOR, f"#alerts tr[data-id='{i}'] .pick")))
    wait.until(ec.text_to_be_present_in_element((By.ID, "bulk-count"), "3 selected"))
    shot(browser, "console-bulk-selected")
    wait.until(lambda b: click((By.ID, "bulk-ack")))
    wait.until(lambda b: api.platform.scalar("SELECT count(*) FROM alerts WHERE state = 'acknowledged'") == 3)
    assert api.platform.scalar(f"SELECT state FROM alerts WHERE id = {ids[3]}") == "open"
    wait.until(ec.text_to_be_present_in_element((By.ID, "announce"), "3 alert(s) acknowledged"))
    # select every alert shown: the header box
    wait.until(lambda b: click((By.ID, "select-all")))
    wait.until(ec.text_to_be_present_in_element((By.ID, "bulk-count"), "4 selected"))
    # the hand-over: the shift report says what was done and what the next shift inherits
    wait.until(lambda b: click((By.ID, "report")))
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#r-opened b"), "4"))
    text = browser.find_element(By.ID, "report-body").text
    assert "Handed over, still open (4)" in text and "operator 3 0 0" in text  # acknowledged 3
    shot(browser, "console-shift-report")
    # the rules in force: what each rule's procedure is, and when it escalates and reminds
    wait.until(lambda b: click((By.CSS_SELECTOR, "#tabs button[data-view='rules']")))
    wait.until(ec.text_to_be_present_in_element((By.ID, "r-policies"), "cctv.fire"))
    policies = browser.find_element(By.ID, "r-policies").text
    assert "packaged" in policies and "2 min, then 8 min" in policies and "30 min" in policies
    procedures = browser.find_element(By.ID, "r-runbooks").text  # an English browser: the English steps
    assert "cctv.fire\nConfirm flames or smoke on the camera" in procedures
    assert "call 119 at once" in procedures
    thresholds = browser.find_element(By.ID, "r-thresholds").text
    assert "min_devices" in thresholds
    # the CCTV event table, in words
    assert "child zone entry by day warning, at night critical" in thresholds
    assert "fall by day warning, critical from confidence 0.8" in thresholds
    assert "loitering by day info, at night warning, warning at a school" in thresholds
    assert "smoke by day critical, one scene with fire: counts on its alerts" in thresholds
    assert "webhook:*" in browser.find_element(By.ID, "r-routes").text
    assert "every device has its zone's" in browser.find_element(By.ID, "r-devices").text
    shot(browser, "console-rules")


def test_an_operator_plans_extends_and_ends_maintenance(api: Api, browser: WebDriver) -> None:
    sign_in(browser, api, "operator")
    wait = WebDriverWait(browser, 10, ignored_exceptions=[StaleElementReferenceException])
    click = clicker(browser)

    wait.until(lambda b: click((By.CSS_SELECTOR, "#tabs button[data-view='maintenance']")))
    wait.until(
        ec.text_to_be_present_in_element((By.ID, "m-windows"), "No device or zone is under maintenance")
    )
    # a device that does not exist: the API's reason, said plainly
    browser.find_element(By.ID, "m-subject").send_keys("nope-1")
    browser.find_element(By.ID, "m-reason").send_keys("filter change")
    browser.find_element(By.ID, "m-create").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "toast"), "no device or zone nope-1"))
    assert "bad" in (browser.find_element(By.ID, "toast").get_attribute("class") or "")  # said as a refusal
    subject = browser.find_element(By.ID, "m-subject")
    subject.clear()
    subject.send_keys("aq-002")
    browser.find_element(By.ID, "m-create").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "m-windows"), "filter change"))
    assert api.platform.scalar("SELECT ends_at - starts_at FROM maintenance") == timedelta(hours=2)
    shot(browser, "console-maintenance")
    wait.until(lambda b: click((By.CSS_SELECTOR, "#m-windows .m-extend")))
    wait.until(
        lambda b: api.platform.scalar("SELECT ends_at - starts_at FROM maintenance") == timedelta(hours=3)
    )
    wait.until(lambda b: click((By.CSS_SELECTOR, "#m-windows .m-end")))
    wait.until(lambda b: api.platform.scalar("SELECT ended_by FROM maintenance") == "operator")
    wait.until(
        ec.text_to_be_present_in_element((By.ID, "m-windows"), "No device or zone is under maintenance")
    )


def test_an_operator_mutes_a_device_from_its_alert(api: Api, browser: WebDriver) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        why = Explanation(rule="aq.stuck", observed=41.0, message="flat for 3 h")
        a = store.apply(
            conn, Raise("aq.stuck", "aq-003", "aq", Severity.WARNING, "Air-quality sensor stuck", why), now
        )
    assert a is not None
    sign_in(browser, api, "operator")
    # the list and the detail re-render on every live event: find, then act, again if what was found went stale
    wait = WebDriverWait(browser, 10, ignored_exceptions=[StaleElementReferenceException])
    click = clicker(browser)
    row = (By.CSS_SELECTOR, f"#alerts tr[data-id='{a.id}']")

    wait.until(lambda b: click(row))
    wait.until(ec.element_to_be_clickable((By.ID, "note"))).send_keys("technician on site")
    wait.until(lambda b: click((By.ID, "mute")))
    wait.until(ec.element_to_be_clickable((By.ID, "scope-subject"))).click()  # the device, all its rules
    assert browser.find_element(By.ID, "mute-reason").get_attribute("value") == "technician on site"
    browser.find_element(By.ID, "mute-ok").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "detail"), "by maintenance #"))
    wait.until(lambda b: "muted" in b.find_element(*row).text)
    assert browser.find_elements(By.ID, "mute") == []  # muted once
    w = api.platform.query(
        "SELECT subject, rule_prefix, reason, created_by, ends_at - starts_at FROM maintenance"
    )
    assert w == [("aq-003", None, "technician on site", "operator", timedelta(hours=2))]
    shot(browser, "console-muted")
    # the work takes longer: the operator extends the window by an hour from the alert
    wait.until(lambda b: click((By.ID, "extend")))
    wait.until(
        lambda b: api.platform.scalar("SELECT ends_at - starts_at FROM maintenance") == timedelta(hours=3)
    )
    assert api.platform.scalar("SELECT changed_by FROM maintenance") == "operator"
    wait.until(ec.text_to_be_present_in_element((By.ID, "announce"), "extended by 1 h"))
    # the technician is done early: the operator ends the window from the same alert
    wait.until(lambda b: click((By.ID, "unmute")))
    wait.until(lambda b: api.platform.scalar("SELECT ended_by FROM maintenance") == "operator")
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        assert store.release(conn, datetime.now(UTC)) == 1  # what the analytics service does every poll
    # its 'opened after maintenance' reaches the page live: the open detail shows it unmuted, mutable again
    wait.until(ec.element_to_be_clickable((By.ID, "mute")))
    wait.until(lambda b: "muted" not in b.find_element(*row).text)


def test_a_zone_is_muted_whole_only_when_chosen_explained_and_confirmed(
    api: Api, browser_ko: WebDriver
) -> None:
    """Muting a zone incident mutes its rule by default; the whole zone (every device, every rule) only with
    a reason and a confirmation: an unrelated alert of the zone goes on notifying."""
    now = datetime.now(UTC)
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        fall = store.apply(
            conn,
            Raise(
                "cctv.incident.fall",
                "zone:gwonseon",
                "cctv",
                Severity.CRITICAL,
                "fall, 3 cameras",
                Explanation("x"),
            ),
            now,
        )
        crowd = store.apply(
            conn, Raise("cctv.crowd", "zone:gwonseon", "cctv", Severity.INFO, "crowd", Explanation("x")), now
        )
    assert fall is not None and crowd is not None
    browser = browser_ko
    sign_in(browser, api, "operator", who="operator (관제요원)")
    wait = WebDriverWait(browser, 10, ignored_exceptions=[StaleElementReferenceException])
    click = clicker(browser)
    wait.until(lambda b: click((By.CSS_SELECTOR, f"#alerts tr[data-id='{fall.id}']")))
    wait.until(lambda b: click((By.ID, "mute")))
    dialog = wait.until(ec.visibility_of_element_located((By.ID, "mute-dialog")))
    assert browser.find_element(By.ID, "scope-rule").is_selected()  # the default: this rule here only
    browser.find_element(By.ID, "scope-subject").click()
    ok = browser.find_element(By.ID, "mute-ok")
    assert not ok.is_enabled() and "구역 전체는 사유가 필요합니다" in dialog.text  # not without a reason
    browser.find_element(By.ID, "mute-reason").send_keys("구청 정전 작업")
    assert not ok.is_enabled() and "구역 전체 음소거를 확인하세요" in dialog.text
    shot(browser, "mute-zone-confirm-ko")
    browser.find_element(By.ID, "mute-cancel").click()  # changed their mind: nothing muted
    wait.until(ec.invisibility_of_element_located((By.ID, "mute-dialog")))
    # the default scope: the fall incident's rule on the zone, for 2 h
    wait.until(lambda b: click((By.ID, "mute")))
    wait.until(ec.element_to_be_clickable((By.ID, "mute-ok"))).click()
    wait.until(
        ec.text_to_be_present_in_element(
            (By.ID, "announce"), "zone:gwonseon의 cctv.incident.fall 2시간 음소거"
        )
    )
    w = api.platform.query("SELECT subject, rule_prefix, ends_at - starts_at FROM maintenance")
    assert w == [("zone:gwonseon", "cctv.incident.fall", timedelta(hours=2))]
    viewer = api.client("viewer")
    assert viewer.get(f"/api/v1/alerts/{crowd.id}").json()["muted_by"] is None  # the crowd still notifies
    # the whole zone, explained and confirmed, from the crowd alert
    wait.until(lambda b: click((By.CSS_SELECTOR, f"#alerts tr[data-id='{crowd.id}']")))
    wait.until(lambda b: click((By.ID, "mute")))
    wait.until(ec.element_to_be_clickable((By.ID, "scope-subject"))).click()
    browser.find_element(By.ID, "mute-reason").send_keys("구청 정전 작업")
    browser.find_element(By.ID, "mute-confirm").click()
    wait.until(ec.element_to_be_clickable((By.ID, "mute-ok"))).click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "announce"), "zone:gwonseon: 모든 경보 2시간 음소거"))
    whole = api.platform.query("SELECT rule_prefix, reason FROM maintenance WHERE rule_prefix IS NULL")
    assert whole == [(None, "구청 정전 작업")]
    assert viewer.get(f"/api/v1/alerts/{crowd.id}").json()["muted_by"] is not None


def test_an_operator_shelves_a_nuisance_alert_for_the_shift(api: Api, browser: WebDriver) -> None:
    now = datetime.now(UTC)
    cam = str(api.platform.scalar("SELECT min(device_id) FROM devices WHERE kind = 'cctv'"))
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        loiter = store.apply(
            conn,
            Raise("cctv.loitering", cam, "cctv", Severity.INFO, f"Loitering at {cam}", Explanation("x")),
            now,
        )
        fire = store.apply(
            conn,
            Raise("cctv.fire", cam, "cctv", Severity.CRITICAL, f"Fire at {cam}", Explanation("x")),
            now,
        )
    assert loiter is not None and fire is not None
    sign_in(browser, api, "operator")
    wait = WebDriverWait(browser, 10, ignored_exceptions=[StaleElementReferenceException])
    click = clicker(browser)
    row = (By.CSS_SELECTOR, f"#alerts tr[data-id='{loiter.id}']")
    wait.until(lambda b: click(row))
    wait.until(lambda b: click((By.ID, "shelve")))
    wait.until(
        ec.text_to_be_present_in_element((By.ID, "announce"), f"cctv.loitering on {cam} is shelved for 8 h")
    )
    w = api.platform.query("SELECT subject, rule_prefix, reason, ends_at - starts_at FROM maintenance")
    assert w == [(cam, "cctv.loitering", f"shelved from the console (alert {loiter.id}): a nuisance to tune",
                  timedelta(hours=8))]  # fmt: skip
    wait.until(lambda b: "muted" in b.find_element(*row).text)
    # the camera's other alerts still notify: a fire is not shelved with the loitering
    viewer = api.client("viewer")
    assert viewer.get(f"/api/v1/alerts/{loiter.id}").json()["muted_by"] is not None
    assert viewer.get(f"/api/v1/alerts/{fire.id}").json()["muted_by"] is None
    fire_row = (By.CSS_SELECTOR, f"#alerts tr[data-id='{fire.id}']")
    assert (
        wait.until(lambda b: b.find_element(*fire_row).text)
        and "muted" not in browser.find_element(*fire_row).text
    )


def test_a_wrong_password_is_refused_on_the_page(api: Api, browser: WebDriver) -> None:
    browser.get(f"{api.url}/console")
    wait = WebDriverWait(browser, 10)
    wait.until(ec.visibility_of_element_located((By.ID, "username"))).send_keys("operator")
    browser.find_element(By.ID, "password").send_keys("not-the-password")
    browser.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "login-error"), "wrong user name or password"))
    assert browser.find_element(By.ID, "inbox").is_displayed() is False


def test_the_api_documentation_reads_offline_from_the_package_s_own_assets(
    api: Api, browser: WebDriver
) -> None:
    """/docs (Swagger UI) and /redoc (ReDoc) load every script, style and icon from the API itself (this
    machine reaches no CDN), and render the API's operations in the browser."""
    import re

    for path in ("/docs", "/redoc"):
        page = httpx.get(f"{api.url}{path}")
        assert page.status_code == 200
        urls = re.findall(r'(?:src|href|spec-url)="([^"]+)"', page.text)
        assert urls and all(u.startswith("/") for u in urls), urls  # nothing from elsewhere
        for u in urls:
            assert httpx.get(f"{api.url}{u}").status_code == 200, u
    wait = WebDriverWait(browser, 30)
    browser.get(f"{api.url}/docs")
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".swagger-ui .info .title"), "citywatch"))
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".opblock")) >= 20)
    shot(browser, "api-docs-swagger")
    browser.get(f"{api.url}/redoc")
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "h1"), "citywatch"))
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "[data-section-id^='operation/']")) >= 20)
    shot(browser, "api-docs-redoc")


def test_the_map_shows_districts_routes_and_devices_by_kind_and_opens_an_alert(
    api: Api, browser_ko: WebDriver, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from simulators.gtfs import write_feed

    p, b = api.platform, browser_ko
    feed = write_feed(p.city, tmp_path / "gtfs.zip")
    with api.client("admin") as admin:
        r = admin.put(
            "/api/v1/transit/feed", content=feed.read_bytes(), headers={"Content-Type": "application/zip"}
        )
        assert r.status_code in (200, 201), r.text
    cam = next(d for d in p.city.devices if d.kind == "cctv")
    with psycopg.connect(p.db_url, autocommit=True) as conn:
        fire = store.apply(
            conn, Raise("cctv.fire", cam.device_id, "cctv", Severity.CRITICAL, f"화재 {cam.name}", Explanation("x")),
            datetime.now(UTC),
        )  # fmt: skip
    assert fire is not None
    sign_in(b, api, "operator", who="operator (관제요원)")
    wait = WebDriverWait(b, 15, ignored_exceptions=[StaleElementReferenceException])
    b.find_element(By.CSS_SELECTOR, "#tabs button[data-view='map']").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#citymap path.zone")) == 4)
    labels = {e.text for e in b.find_elements(By.CSS_SELECTOR, "#citymap .zone-label")}
    assert labels == {"장안구", "권선구", "팔달구", "영통구"}
    assert (
        "통계청" in b.find_element(By.CSS_SELECTOR, ".leaflet-control-attribution").text
    )  # KOGL: attributed
    routes = len(b.find_elements(By.CSS_SELECTOR, "#citymap path.route"))
    assert routes >= len(p.city.routes)  # a line per route (and direction)
    # the alerting camera is on top, never in a cluster, and red; the others are clustered or drawn by kind
    loud = wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f"#citymap .mk.alerting[title^='{cam.name}']")
    )
    assert len(loud) == 1
    kinds = {
        c
        for e in b.find_elements(By.CSS_SELECTOR, "#citymap .mk")
        for c in (e.get_attribute("class") or "").split()
    }
    assert (
        b.find_elements(By.CSS_SELECTOR, "#citymap .marker-cluster") or {"kind-aq", "kind-parking"} <= kinds
    )
    shot(b, "map-ko")
    loud[0].click()
    link = wait.until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, f".leaflet-popup .to-alert[data-id='{fire.id}']"))
    )
    assert link.text.startswith("긴급")
    link.click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#detail h3"), f"화재 {cam.name}"))
    assert b.find_element(By.ID, "inbox").is_displayed()


WALL_FITS = """
const vw = innerWidth, vh = innerHeight, doc = document.scrollingElement;
const out = [];
if (doc.scrollWidth > vw || doc.scrollHeight > vh) out.push(`page ${doc.scrollWidth}x${doc.scrollHeight} in ${vw}x${vh}`);
for (const e of document.querySelectorAll("#wall .tile, #wall-side, #wall-map, #wall .wall-list li")) {
  if (e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1)
    out.push(`${e.id || e.className}: ${e.scrollWidth}x${e.scrollHeight} in ${e.clientWidth}x${e.clientHeight}`);
  const r = e.getBoundingClientRect();
  if (r.right > vw + 1 || r.bottom > vh + 1) out.push(`${e.id || e.className} ends at ${r.right}x${r.bottom}`);
}
return out;
"""


@pytest.mark.parametrize("size", ["1920,1080", "3840,2160"])
def test_the_wall_screen_fits_the_screen_and_shows_the_room_its_state(api: Api, size: str) -> None:
    """A read-only kiosk signed in with a viewer's key: tiles, the map, the latest alerts; nothing clipped,
    nothing scrolling, at Full HD and at 4K."""
    from tests.support import chromium

    cam = next(d for d in api.platform.city.devices if d.kind == "cctv")
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        for i in range(9):  # more alerts than the panel lists
            sev = Severity.CRITICAL if i < 2 else Severity.WARNING
            title = (
                f"화재 감지: {cam.name} — 연기와 불꽃이 함께 보임 ({i})"
                if i < 2
                else f"배회 {i}: 장시간 같은 자리에 머무름"
            )
            store.apply(
                conn,
                Raise(f"cctv.t{i}", cam.device_id, "cctv", sev, title, Explanation("x")),
                datetime.now(UTC),
            )
    key = api.client("admin").post("/api/v1/api-keys", json={"name": "wall", "role": "viewer"}).json()["key"]
    b = chromium(size, "ko-KR", "Asia/Seoul")
    w, h = map(int, size.split(","))  # the page's own size, whatever the window's frame takes
    b.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        b.get(f"{api.url}/console?wall#key={key}")
        wait = WebDriverWait(b, 20)
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#t-critical b"), "2"))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#wall-side .wall-list li")) == 7)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#citymap path.zone"))
        assert "key=" not in b.current_url  # the key leaves the address bar (and the screen) at once
        assert b.find_element(By.CSS_SELECTOR, "#t-warning b").text == "7"
        assert "긴급 경보" in b.find_element(By.ID, "t-critical").text
        assert [e for e in b.find_elements(By.TAG_NAME, "button") if e.is_displayed()] == []  # read-only
        assert b.execute_script("return [innerWidth, innerHeight]") == [w, h]
        assert b.execute_script(WALL_FITS) == []
        shot(b, f"wall-{size.replace(',', 'x')}")
        b.get(f"{api.url}/console?wall&turn=5")  # the key is kept for the session; the panel turns every 5 s
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#wall-side h2"), "최근 경보"))
        WebDriverWait(b, 15).until(
            ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#wall-side h2"), "대기질")
        )
        assert b.execute_script(WALL_FITS) == []
    finally:
        b.quit()


def test_the_boards_show_grades_concentrations_charts_and_counting_etas(
    api: Api, browser_ko: WebDriver
) -> None:
    p, b = api.platform, browser_ko
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    p.query(
        "INSERT INTO air_quality (time, device_id, seq, pm25, pm10, received_at)"
        " SELECT %s - i * interval '1 hour' + interval '10 minutes', 'aq-001', i, 20 + i, 45, now()"
        " FROM generate_series(0, 23) i",
        now,
    )
    p.query(
        "INSERT INTO aq_hourly (hour, device_id, pm10_24h, pm25_24h, cai, grade, dominant, sub_indices)"
        " VALUES (%s, 'aq-001', 45, 40, 120, 'unhealthy', 'pm25', '{\"pm25\": 120, \"pm10\": 65}')",
        now,
    )
    sign_in(b, api, "operator", who="operator (관제요원)")
    b.find_element(By.CSS_SELECTOR, "#tabs button[data-view='boards']").click()
    wait = WebDriverWait(b, 15, ignored_exceptions=[StaleElementReferenceException])
    station = next(d for d in p.city.devices if d.device_id == "aq-001")
    row = wait.until(
        lambda d: next(
            (r for r in d.find_elements(By.CSS_SELECTOR, "#b-aq tbody tr") if station.name in r.text), None
        )
    )
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    assert cells[2:5] == ["120 나쁨", "45 보통", "40 나쁨"], cells  # CAI, PM10 and PM2.5 in AirKorea's grades
    wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#b-aq .spark[data-device='aq-001'] canvas")
    )  # 24 h of PM2.5
    headers = [h.text for h in b.find_elements(By.CSS_SELECTOR, "#b-aq thead th")]
    assert headers[:3] == ["측정소", "구역", "통합대기환경지수"]
    assert b.find_elements(By.CSS_SELECTOR, "#b-parking .meter .fill")  # occupancy as a bar
    shot(b, "boards-ko")


def test_the_shift_report_is_a_page_in_korean_that_prints_to_pdf(api: Api, browser_ko: WebDriver) -> None:
    b = browser_ko
    now = datetime.now(UTC)
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        for i, sev in enumerate((Severity.CRITICAL, Severity.WARNING, Severity.WARNING)):
            store.apply(
                conn, Raise(f"cctv.r{i}", "zone:paldal", "cctv", sev, f"사건 {i}", Explanation("x")), now
            )
    sign_in(b, api, "operator", who="operator (관제요원)")
    wait = WebDriverWait(b, 15, ignored_exceptions=[StaleElementReferenceException])
    wait.until(ec.element_to_be_clickable((By.ID, "report"))).click()
    wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#r-opened b"), "3"))
    assert b.find_element(By.CSS_SELECTOR, "#r-critical b").text == "1"
    text = b.find_element(By.ID, "report-page").text
    assert "교대 보고서" in text and "인계할 경보 (3)" in text and "팔달구" in text and "Asia/Seoul" in text
    shot(b, "shift-report-ko")
    # printed (or saved as a PDF): the report alone, in black on white
    b.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not b.find_element(By.TAG_NAME, "header").is_displayed()
    assert not b.find_element(By.ID, "report-print").is_displayed()
    assert b.find_element(By.ID, "report-body").is_displayed()
    pdf = base64.b64decode(b.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})["data"])
    assert pdf.startswith(b"%PDF-") and len(pdf) > 10_000
    out = ARTIFACTS / "shift-report-ko.pdf"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pdf)


def test_the_rules_and_maintenance_views_read_in_korean(api: Api, browser_ko: WebDriver) -> None:
    b = browser_ko
    sign_in(b, api, "operator", who="operator (관제요원)")
    wait = WebDriverWait(b, 15, ignored_exceptions=[StaleElementReferenceException])
    b.find_element(By.CSS_SELECTOR, "#tabs button[data-view='maintenance']").click()
    wait.until(
        ec.text_to_be_present_in_element(
            (By.ID, "m-windows"), "유지보수 중이거나 예정된 장치·구역이 없습니다."
        )
    )
    assert b.find_element(By.ID, "m-create").text == "유지보수 설정"
    b.find_element(By.CSS_SELECTOR, "#tabs button[data-view='rules']").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "r-policies"), "cctv.fire"))
    policies = b.find_element(By.ID, "r-policies").text
    assert "2분, 이후 8분" in policies and "기본 제공" in policies
    thresholds = b.find_element(By.ID, "r-thresholds").text
    assert "쓰러짐 주간 경고, 신뢰도 0.8부터 긴급" in thresholds  # the CCTV event table, in words
    assert "배회 주간 정보, 야간 경고, 학교에서 경고" in thresholds
    procedures = b.find_element(By.ID, "r-runbooks").text
    assert "cctv.fall\n카메라 영상으로 쓰러진 사람을 확인하고" in procedures
    shot(b, "rules-ko")
