"""The bus-driver terminal in a real browser (Debian's headless Chromium), against the real API,
boarding bell, ingest, database and broker: a passenger's request appears on the right bus's screen,
the driver acknowledges it with one press, and the screen clears when the bus serves the stop."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from api.app import ApiServer
from boarding.gtfs import load
from boarding.service import BoardingService
from citywatch import broker
from simulators.gtfs import write_feed
from simulators.publisher import Publisher
from tests.support import (
    SECRET,
    Api,
    browser,
    browser_ko,
    positions,
    request,
    send_positions,
    shot,
    start_api,
    wait_for,
)

__all__ = ["browser", "browser_ko"]


@pytest.fixture
def bell(api: Api, tmp_path: Path) -> Iterator[Any]:
    feed = write_feed(api.platform.city, tmp_path / "gtfs.zip")
    settings = api.platform.settings()
    settings.boarding.gtfs = feed
    service = BoardingService(settings, client_id=f"boarding-{uuid.uuid4().hex[:6]}")
    t = threading.Thread(target=service.run, daemon=True)
    t.start()
    assert service.connected.wait(10)
    yield load(feed)
    service.stop()
    t.join(10)


def sign_in_terminal(b: WebDriver, api: Api, bus: str) -> WebDriverWait[WebDriver]:
    wait = WebDriverWait(b, 15)
    b.get(f"{api.url}/driver/{bus}")
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "#by-password summary"))).click()  # not the code
    wait.until(ec.visibility_of_element_located((By.ID, "secret"))).send_keys(
        broker.derive_password(SECRET, bus)
    )
    b.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    wait.until(ec.visibility_of_element_located((By.ID, "empty")))
    return wait


def test_request_shown_acknowledged_and_cleared_when_served(
    api: Api, bell: Any, browser: WebDriver, run_ingest
) -> None:  # type: ignore[no-untyped-def]
    p, net = api.platform, bell
    route = next(r for r in p.city.routes if not r.loop)
    rd = net.for_route(route.route_id)[0]
    stop = rd.stops[2]
    frac = rd.stop_along[stop] / rd.path.length_m
    bus = f"bus-{route.route_id[1:].zfill(2)}01"
    panel = f"stop-{stop[3:]}"
    with run_ingest(p.settings()):
        wait = sign_in_terminal(browser, api, bus)
        shot(browser, "driver-idle")
        pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
        pub.open([])
        send_positions(pub, bus, route.route_id, positions(net, route.route_id, frac - 0.2, frac - 0.15, 4))
        time.sleep(0.3)
        t0 = time.monotonic()
        rid = request(pub, panel, stop, route.route_id, n=2)
        wait.until(ec.visibility_of_element_located((By.ID, "next")))
        shown_after = time.monotonic() - t0
        print(
            f"request -> terminal screen: {shown_after * 1000:.0f} ms"
        )  # the figure is measured by bench boarding
        assert browser.find_element(By.ID, "passengers").text == "2 passengers"
        stop_name = browser.find_element(By.ID, "stop-name").text
        assert stop_name and "m" in browser.find_element(By.ID, "eta").text
        shot(browser, "driver-request")
        # another bus's terminal cannot read this one
        other = f"bus-{route.route_id[1:].zfill(2)}02"
        tok = httpx.post(
            f"{api.url}/api/v1/driver/token",
            data={"username": other, "password": broker.derive_password(SECRET, other)},
        ).json()["access_token"]
        assert (
            httpx.get(
                f"{api.url}/api/v1/driver/{bus}/state", headers={"Authorization": f"Bearer {tok}"}
            ).status_code
            == 403
        )
        bad = httpx.post(f"{api.url}/api/v1/driver/token", data={"username": bus, "password": "guess"})
        assert bad.status_code == 401
        # one press
        browser.find_element(By.ID, "ack").click()
        wait.until(ec.visibility_of_element_located((By.ID, "acked")))
        assert not browser.find_element(By.ID, "ack").is_displayed()
        assert wait_for(
            lambda: p.query("SELECT request_ids FROM driver_acks WHERE device_id = %s", bus) == [([rid],)], 10
        )
        shot(browser, "driver-acknowledged")
        # a reload (a terminal that restarts) shows the current state at once
        browser.refresh()
        wait.until(ec.text_to_be_present_in_element((By.ID, "stop-name"), stop_name))
        # the bus serves the stop: slow, door open, at the stop; then drives on
        send_positions(
            pub,
            bus,
            route.route_id,
            positions(net, route.route_id, frac - 0.002, frac + 0.002, 4),
            speed=0.0,
            door=True,
        )
        send_positions(pub, bus, route.route_id, positions(net, route.route_id, frac + 0.05, frac + 0.1, 4))
        wait.until(ec.visibility_of_element_located((By.ID, "empty")))
        shot(browser, "driver-cleared")
        assert wait_for(
            lambda: p.query("SELECT served, request_ids FROM bell_passes WHERE stop_id = %s", stop)
            == [(True, [rid])],
            5,
        )
        pub.close()


def test_terminal_says_plainly_when_the_connection_is_lost_and_recovers(api: Api, browser: WebDriver) -> None:
    own, settings = start_api(api.platform)  # an API of its own, to take away and bring back
    mine = Api(f"http://127.0.0.1:{settings.api.port}", api.platform, settings)
    wait = sign_in_terminal(browser, mine, "bus-0101")
    assert not browser.find_element(By.ID, "conn").is_displayed()
    own.stop()
    assert own.thread is not None
    own.thread.join(15)
    wait.until(lambda b: b.find_element(By.ID, "conn").is_displayed())
    assert "Connection lost" in browser.find_element(By.ID, "conn").text
    shot(browser, "driver-connection-lost")
    again = ApiServer(settings)  # the same address again
    again.thread = threading.Thread(target=again.run, daemon=True)
    again.thread.start()
    try:
        WebDriverWait(browser, 20).until(lambda b: not b.find_element(By.ID, "conn").is_displayed())
        assert browser.find_element(By.ID, "empty").is_displayed()  # it shows the current state again
    finally:
        again.stop()
        again.thread.join(15)


def test_a_korean_terminal_counts_down_and_chimes_once_for_a_new_stop(
    api: Api, bell: Any, browser_ko: WebDriver, run_ingest
) -> None:  # type: ignore[no-untyped-def]
    p, net, b = api.platform, bell, browser_ko
    # count the chimes: every AudioContext the page makes is one
    b.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {"source": "window.chimes = 0; const A = window.AudioContext;"
                   " window.AudioContext = function () { window.chimes++; return new A(); };"},
    )  # fmt: skip
    route = next(r for r in p.city.routes if not r.loop)
    rd = net.for_route(route.route_id)[0]
    stop = rd.stops[2]
    frac = rd.stop_along[stop] / rd.path.length_m
    bus = f"bus-{route.route_id[1:].zfill(2)}01"
    with run_ingest(p.settings()):
        wait = sign_in_terminal(b, api, bus)
        assert b.find_element(By.ID, "empty").text == "앞쪽 정류장에 기다리는 승객이 없습니다"
        pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
        pub.open([])
        send_positions(pub, bus, route.route_id, positions(net, route.route_id, frac - 0.3, frac - 0.25, 4))
        time.sleep(0.3)
        request(pub, f"stop-{stop[3:]}", stop, route.route_id, n=2)
        wait.until(ec.visibility_of_element_located((By.ID, "next")))
        assert b.find_element(By.ID, "passengers").text == "2명"
        assert b.find_element(By.CSS_SELECTOR, "#next .label").text == "승객 대기"
        assert b.execute_script("return window.chimes") == 1
        assert "pulse" in (b.find_element(By.ID, "next").get_attribute("class") or "")

        def metres() -> float:
            text = b.find_element(By.ID, "eta").text  # e.g. "1.2 km · 3분" or "850 m · 2분"
            n, unit = text.split(" · ")[0].split(" ")
            return float(n) * (1000 if unit == "km" else 1)

        before = metres()
        wait.until(lambda _b: metres() < before)  # no new position: the terminal counts down by itself
        shot(b, "driver-request-ko")
        assert b.execute_script("return window.chimes") == 1  # the same stop chimes once
        pub.close()


def test_a_terminal_pairs_once_with_a_short_code_from_the_console(api: Api) -> None:
    bus = "bus-0101"
    path = f"/api/v1/driver/{bus}/pairing"
    with api.client("operator") as op, api.client("viewer") as viewer:
        assert viewer.post(path).status_code == 403
        assert op.post("/api/v1/driver/bus-9999/pairing").status_code == 404
        first = op.post(path).json()
        code = op.post(path).json()  # a new code voids the earlier one
    assert len(code["code"]) == 6 and code["code"].isdigit() and code["bus_id"] == bus
    pair = f"{api.url}/api/v1/driver/pair"
    assert httpx.post(pair, json={"bus": bus, "code": first["code"]}).status_code == 401  # voided
    wrong = f"{(int(code['code']) + 1) % 10**6:06d}"
    r = httpx.post(pair, json={"bus": bus, "code": wrong})
    assert r.status_code == 401 and "관제센터에 새 코드를 요청하세요" in r.json()["detail"]
    ok = httpx.post(pair, json={"bus": bus, "code": f"{code['code'][:3]} {code['code'][3:]}"})  # as read out
    assert ok.status_code == 200, ok.text
    token = ok.json()["access_token"]
    assert (
        httpx.get(
            f"{api.url}/api/v1/driver/{bus}/state", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )
    assert httpx.post(pair, json={"bus": bus, "code": code["code"]}).status_code == 401  # once only
    # five wrong tries void a code: the right one after them is refused too
    with api.client("operator") as op:
        again = op.post(path).json()["code"]
    for i in range(5):
        assert (
            httpx.post(pair, json={"bus": bus, "code": f"{(int(again) + 1 + i) % 10**6:06d}"}).status_code
            == 401
        )
    assert httpx.post(pair, json={"bus": bus, "code": again}).status_code == 401
    trail = api.platform.query("SELECT action, target FROM api_audit WHERE action = 'terminal.pairing'")
    assert trail == [("terminal.pairing", bus)] * 3


def test_a_driver_types_the_code_an_operator_reads_from_the_map(
    api: Api, browser_ko: WebDriver, run_ingest, bell: Any
) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.test_console import sign_in
    from tests.support import chromium

    p, net = api.platform, bell
    route = next(r for r in p.city.routes if not r.loop)
    bus = f"bus-{route.route_id[1:].zfill(2)}01"
    with run_ingest(p.settings()):
        pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
        pub.open([])
        send_positions(pub, bus, route.route_id, positions(net, route.route_id, 0.2, 0.25, 4))
        pub.close()
        console = browser_ko
        sign_in(console, api, "operator", who="operator (관제요원)")
        wait = WebDriverWait(console, 15)
        console.find_element(By.CSS_SELECTOR, "#tabs button[data-view='map']").click()
        wait.until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, f"#citymap .mk.kind-bus[title^='{bus}']"))
        ).click()
        wait.until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, f".leaflet-popup button.pair[data-bus='{bus}']"))
        ).click()
        code = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".leaflet-popup .pair-code").text)
        assert len(code.replace(" ", "")) == 6
        shot(console, "map-pairing-code-ko")
    terminal = chromium("1280,800", "ko-KR", "Asia/Seoul")
    try:
        terminal.get(f"{api.url}/driver/{bus}")
        tw = WebDriverWait(terminal, 15)
        tw.until(ec.visibility_of_element_located((By.ID, "code"))).send_keys(code)
        assert terminal.find_element(By.CSS_SELECTOR, "#pair-form button").text == "이 단말기 연결"
        shot(terminal, "driver-pairing-ko")
        terminal.find_element(By.CSS_SELECTOR, "#pair-form button").click()
        tw.until(ec.visibility_of_element_located((By.ID, "empty")))  # paired: the bus's screen
    finally:
        terminal.quit()
