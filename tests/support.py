"""Shared helpers of the tests (the conftest holds only fixtures): one PostgreSQL+TimescaleDB cluster per session
(a fresh database per test) and a fresh Mosquitto broker per test, each on a
free port in a temporary directory. Nothing here touches the machine's own
PostgreSQL or Mosquitto."""

from __future__ import annotations

import itertools
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import httpx
import orjson
import psycopg
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from alerts import store
from alerts.model import Explanation, Raise, Severity
from analytics.cctv import CctvEvent
from analytics.service import AnalyticsService
from api.app import ApiServer
from citywatch.contracts import messages as m
from citywatch.contracts.topics import DeviceKind, topic_for
from citywatch.db import roles
from citywatch.db.schema import migrate_all
from citywatch.devices import broker_accounts
from citywatch.settings import (
    AnalyticsSettings,
    ApiSettings,
    BoardingSettings,
    DatabaseSettings,
    IngestSettings,
    MqttSettings,
    Settings,
)
from ingest.service import IngestService
from simulators.city import City, Device, Scale, build_city
from simulators.provision import register_city
from simulators.publisher import Publisher
from tools.localservices import MosquittoBroker, PostgresServer, free_port

ROOT = Path(__file__).resolve().parents[1]  # the repository
SHARED_DATA = ROOT.parent / "shared" / "data"  # the reference data sets, read-only (../shared/data)
#: CI sets it: a test that needs ../shared/data fails where it is absent, instead of skipping
REQUIRE_DATA = os.environ.get("CITYWATCH_REQUIRE_DATA", "") == "1"
SECRET = "test-secret"
#: The TimescaleDB edition this run tests: ``apache`` (Debian's build, the default) or ``tsl`` (the
#: Timescale License edition, ``CITYWATCH_TIMESCALEDB=tsl make test``, whose PostgreSQL tree the Makefile
#: passes in CITYWATCH_PG_BINDIR). Tests about one edition carry ``@pytest.mark.edition(NAME)``.
EDITION = os.environ.get("CITYWATCH_TIMESCALEDB", "apache")
_LICENCE = {"apache": "apache", "tsl": "timescale"}
DATA_TABLES = ("air_quality", "parking_events", "cctv_events", "bus_positions", "stop_requests")
ALL_TABLES = (*DATA_TABLES, "device_status")
_db_counter = itertools.count(1)


@dataclass
class Platform:
    db_url: str
    broker: MosquittoBroker
    city: City

    def settings(self, **ingest: object) -> Settings:
        ing = {
            "client_id": f"ingest-{next(_db_counter)}",
            "metrics_port": None,
            "batch_max_wait_s": 0.05,
            "session_expiry_s": 600,
            **ingest,
        }
        return Settings(
            device_secret=SECRET,  # type: ignore[arg-type]
            db=DatabaseSettings(url=self.db_url),
            mqtt=MqttSettings(port=self.broker.port),
            ingest=IngestSettings(**ing),  # type: ignore[arg-type]
            analytics=AnalyticsSettings(metrics_port=None),
            boarding=BoardingSettings(metrics_port=None),
        )

    def query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            cur = conn.execute(sql, args)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def scalar(self, sql: str, *args: object) -> object:
        return self.query(sql, *args)[0][0]

    def count(self, sql: str, *args: object) -> int:
        return int(self.scalar(sql, *args) or 0)  # type: ignore[call-overload]

    def stored(self, tables: tuple[str, ...] = DATA_TABLES) -> int:
        """Rows in the stream tables."""
        return sum(self.count(f"SELECT count(*) FROM {t}") for t in tables)

    def distinct_stored(self) -> int:
        return sum(self.count(f"SELECT count(DISTINCT (device_id, seq)) FROM {t}") for t in DATA_TABLES)


SMALL = Scale(stations=4, lots=2, spaces_per_lot=5, cameras=4, routes=2, stops_per_route=4, buses_per_route=2)


def city_platform(db_url: str, mosquitto: MosquittoBroker, scale: Scale = SMALL, seed: int = 7) -> Platform:
    """Register a city in the database and start the broker with accounts from its registry."""
    city = build_city(seed, scale)
    register_city(db_url, city)
    mosquitto.write_config(broker_accounts(db_url))
    mosquitto.start()
    return Platform(db_url, mosquitto, city)


def module_platform(pg: PostgresServer, workdir: Path) -> Platform:
    """The same for a module-scoped fixture: its own database and broker (the caller stops the broker)."""
    url = pg.create_database(f"m{next(_db_counter)}")
    migrate_all(url)
    return city_platform(url, MosquittoBroker(workdir / f"mq-{next(_db_counter)}", free_port(), SECRET))


class IngestThread:
    def __init__(self, settings: Settings) -> None:
        self.service = IngestService(settings)
        self.thread = threading.Thread(target=self.service.run, name="ingest", daemon=True)

    def __enter__(self) -> IngestService:
        self.thread.start()
        assert self.service.subscriber.wait_connected(10), "ingest did not connect to the broker"
        time.sleep(0.2)  # let the SUBSCRIBE complete
        return self.service

    def __exit__(self, *exc: object) -> None:
        self.service.stop()
        self.thread.join(30)


def as_role(url: str, service: str) -> str:
    """``url`` for the service's own database role (citywatch.db.roles) instead of the owner's."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{roles.role(service)}@{parts.netloc.rpartition('@')[2]}"))


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def fire_alert_through_mqtt(p: Platform) -> Device:
    """A camera sees fire: its event goes MQTT -> ingest -> TimescaleDB, then the analytics raise the
    critical ``cctv.fire`` alert (the whole path a real alert takes). Returns the camera."""
    from citywatch.contracts import messages as m
    from citywatch.contracts.topics import DeviceKind, topic_for
    from simulators.publisher import Publisher

    cam = next(d for d in p.city.of_kind(DeviceKind.CCTV))
    t0 = datetime.now(UTC) - timedelta(seconds=30)
    with IngestThread(p.settings()):
        pub = Publisher(host="127.0.0.1", port=p.broker.port, secret=SECRET, mode="gateway")
        pub.open([])
        ev = m.CctvEvent(
            device_id=cam.device_id, ts=t0, seq=0, event_id=f"evt-fire-{cam.device_id}", confidence=0.97,
            event_type=m.CctvEventType.FIRE, object_class=m.ObjectClass.FIRE,
            bbox=m.BoundingBox(x=0.1, y=0.1, w=0.2, h=0.2), zone=cam.zone,
        )  # fmt: skip
        pub.send_raw(topic_for(DeviceKind.CCTV, cam.device_id), m.to_json(ev))
        assert pub.flush(10)
        assert wait_for(lambda: p.count("SELECT count(*) FROM cctv_events") == 1, 20)
        pub.close()
    AnalyticsService(p.settings()).step(now=t0 + timedelta(minutes=1), health=False)
    return cam


# -- the control-centre API, served by uvicorn on a free port -------------------------------
PASSWORDS = {"admin": "admin-password-1", "operator": "operator-password-1", "viewer": "viewer-password-1"}


@dataclass
class Api:
    url: str
    platform: Platform
    settings: Settings

    def token(self, username: str, password: str | None = None) -> str:
        r = httpx.post(
            f"{self.url}/api/v1/auth/token",
            data={"username": username, "password": password or PASSWORDS[username]},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def client(self, role: str | None = "admin") -> httpx.Client:
        """A client logged in as the user named after ``role`` (None: anonymous)."""
        headers = {"Authorization": f"Bearer {self.token(role)}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def start_api(platform: Platform, **api: object) -> tuple[ApiServer, Settings]:
    """The API as it runs in production: connected as its own role (``citywatch_api``). A port that
    free_port() found free may be taken before the bind (an outgoing connection can be given it): the API
    then cannot start, and another port is tried."""
    for _attempt in range(3):
        settings = platform.settings().model_copy(
            update={
                "db": DatabaseSettings(url=as_role(platform.db_url, "api")),
                "api": ApiSettings(
                    **{"port": free_port(), "login_rate": "1000/minute", "metrics_port": None, **api}
                ),  # type: ignore[arg-type]
            }
        )
        server = ApiServer(settings)
        server.thread = threading.Thread(target=server.run, name="api", daemon=True)
        server.thread.start()
        wait_for(lambda s=server: s.started or not s.thread.is_alive(), 20)  # type: ignore[misc]
        if server.started:
            return server, settings
        server.stop()
        server.thread.join(10)
        if "port" in api:  # the caller's own port: nothing else to try
            break
    raise AssertionError("the API did not start")


# -- from test_api_stream --
class Subscriber:
    """Reads an SSE stream in a thread; ``events`` holds (id, event, data)."""

    def __init__(self, api: Api, token: str, **params: Any) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.comments: list[str] = []
        self.api, self.token, self.params = api, token, params
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._read()
        except httpx.TransportError:
            if not self.stop.is_set():
                raise

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        if "last_event_id" in self.params:
            headers["Last-Event-ID"] = str(self.params.pop("last_event_id"))
        with (
            httpx.Client(timeout=None) as client,
            client.stream(
                "GET", f"{self.api.url}/api/v1/alerts/stream", params=self.params, headers=headers
            ) as r,
        ):
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            ev: dict[str, str] = {}
            for line in r.iter_lines():
                if self.stop.is_set():
                    return
                if line.startswith(":"):
                    self.comments.append(line)
                elif line == "":
                    if "data" in ev:
                        self.events.append(
                            (ev.get("id", ""), ev.get("event", "message"), orjson.loads(ev["data"]))
                        )
                    ev = {}
                else:
                    k, _, v = line.partition(":")
                    ev[k] = v.removeprefix(" ")

    def close(self) -> None:
        """Stop listening (the thread ends at the next event, keepalive or shutdown)."""
        self.stop.set()


def raise_alert(api: Api, subject: str, sev: Severity = Severity.WARNING) -> None:
    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        store.apply(
            conn,
            Raise("test.rule", subject, "aq", sev, f"t {subject}", Explanation(rule="test.rule")),
            datetime.now(UTC),
        )


# -- from test_console --
ARTIFACTS = Path(os.environ.get("CITYWATCH_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def chromium(size: str = "1400,900", lang: str | None = None, tz: str | None = None) -> WebDriver:
    """Debian's headless Chromium at ``size``, in the locale ``lang`` (its Accept-Language and
    ``navigator.language``) and the time zone ``tz``, as a person in that city would have it."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "Debian's chromium and chromium-driver are needed: `make test` installs them"
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for a in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={size}",
        "--disable-gpu",
    ):
        opts.add_argument(a)
    if lang:
        opts.add_argument(f"--lang={lang}")
        opts.add_experimental_option("prefs", {"intl.accept_languages": f"{lang},{lang.split('-')[0]}"})
    env = {**os.environ, "TZ": tz} if tz else None
    b = webdriver.Chrome(service=Service(driver, env=env), options=opts)
    b.implicitly_wait(0)
    return b


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    b = chromium()
    yield b
    b.quit()


@pytest.fixture
def browser_ko() -> Iterator[WebDriver]:
    """A Korean operator's browser: ko-KR, Asia/Seoul, 1600×1000."""
    b = chromium("1600,1000", "ko-KR", "Asia/Seoul")
    yield b
    b.quit()


def shot(b: WebDriver, name: str) -> None:
    """Save what ``b`` shows as ``name``.png, once the fonts its text asked for have loaded (the Korean
    font comes in slices, each when a page first uses one of its characters)."""
    b.execute_async_script(
        "const done = arguments[arguments.length - 1], text = document.body.innerText;"
        " Promise.all(['400', '700'].map((w) => document.fonts.load(`${w} 16px 'Noto Sans KR Variable'`, text)))"
        ".then(() => document.fonts.ready).then(() => setTimeout(done, 300), () => done());"
    )
    d = ARTIFACTS / "screenshots"
    d.mkdir(parents=True, exist_ok=True)
    b.save_screenshot(str(d / f"{name}.png"))


# -- from test_cctv_rules --
NOON_KST = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)  # 12:00 in Seoul


def ev(
    t: datetime,
    kind: str = "fire",
    cam: str = "cam-1",
    conf: float = 0.9,
    zone: str = "z1",
    count: int | None = None,
    area: str = "road",
) -> CctvEvent:
    return CctvEvent(cam, t, kind, conf, zone, area, count)


# -- from test_boarding_matching --
# A straight east-west road: stops every ~880 m (0.01° of longitude at 37.26° N).
LAT = 37.26


def lon(i: float) -> float:
    return 127.0 + 0.01 * i


def feed(loop: bool = False) -> dict[str, str]:
    stops = "stop_id,stop_name,stop_lat,stop_lon\n" + "".join(
        f"s{i},Stop {i},{LAT},{lon(i)}\n" for i in range(5)
    )
    routes = "route_id,route_short_name\nr1,1\n"
    if loop:  # a square loop through s0..s3
        stops = (
            "stop_id,stop_name,stop_lat,stop_lon\n"
            f"s0,A,{LAT},{lon(0)}\ns1,B,{LAT},{lon(1)}\ns2,C,{LAT + 0.01},{lon(1)}\ns3,D,{LAT + 0.01},{lon(0)}\n"
        )
        trips = "route_id,service_id,trip_id,direction_id\nr1,d,t0,0\n"
        times = "trip_id,stop_id,stop_sequence\n" + "".join(f"t0,s{i % 4},{i + 1}\n" for i in range(5))
    else:
        trips = "route_id,service_id,trip_id,direction_id\nr1,d,t0,0\nr1,d,t1,1\n"
        times = (
            "trip_id,stop_id,stop_sequence\n"
            + "".join(f"t0,s{i},{i + 1}\n" for i in range(5))
            + "".join(f"t1,s{4 - i},{i + 1}\n" for i in range(5))
        )
    return {"stops.txt": stops, "routes.txt": routes, "trips.txt": trips, "stop_times.txt": times}


# -- from test_boarding_e2e --
def positions(net, route: str, frm: float, to: float, n: int):  # type: ignore[no-untyped-def]
    """Points along direction 0 of the route between fractions ``frm`` and ``to`` of its length."""
    rd = net.for_route(route)[0]
    pts, cum = rd.path.points, rd.path.cumulative
    out = []
    for i in range(n):
        target = (frm + (to - frm) * i / max(1, n - 1)) * rd.path.length_m
        k = max(j for j in range(len(cum)) if cum[j] <= target) if target > 0 else 0
        k = min(k, len(pts) - 2)
        f = (target - cum[k]) / max(1e-9, cum[k + 1] - cum[k])
        out.append((pts[k][0] + (pts[k + 1][0] - pts[k][0]) * f, pts[k][1] + (pts[k + 1][1] - pts[k][1]) * f))
    return out


def send_positions(
    pub: Publisher, bus: str, route: str, pts, speed: float = 30.0, door: bool = False
) -> None:  # type: ignore[no-untyped-def]
    for i, (lat, lon) in enumerate(pts):
        msg = m.BusPosition(
            device_id=bus,
            ts=datetime.now(UTC),
            seq=i,
            route_id=route,
            lat=lat,
            lon=lon,
            speed_kmh=speed,
            heading_deg=90.0,
            door_open=door,
        )
        pub.send_raw(topic_for(DeviceKind.BUS, bus), m.to_json(msg))
        time.sleep(0.02)


def request(pub: Publisher, device: str, stop: str, route: str, n: int = 2) -> str:
    rid = f"req-{uuid.uuid4().hex[:12]}"
    msg = m.StopRequest(
        device_id=device,
        ts=datetime.now(UTC),
        seq=0,
        request_id=rid,
        stop_id=stop,
        route_id=route,
        passengers=n,
        source="button",
    )
    pub.send_raw(topic_for(DeviceKind.STOP, device), m.to_json(msg))
    return rid


# -- from test_api_authz_matrix --
PARAMS = {
    "{alert_id}": "1",
    "{window_id}": "1",
    "{device_id}": "aq-001",
    "{username}": "viewer",
    "{prefix}": "abcd",
    "{bus}": "bus-0101",
    "{lot_id}": "lot-01",
    "{zone_id}": "jangan",
    "{entity_id}": "urn:ngsi-ld:OffStreetParking:lot-01",
}


# -- from test_analytics_leadership --
class Sink:
    def __init__(self) -> None:
        self.got: list[bytes] = []

    def __call__(self, _kind: str, payload: bytes) -> None:
        self.got.append(payload)


def fire(p: Platform, pub: Publisher, cam: str, zone: str, n: int) -> None:
    ev = m.CctvEvent(
        device_id=cam, ts=datetime.now(UTC) - timedelta(seconds=5), seq=n, event_id=f"evt-{cam}-{n}",
        confidence=0.97, event_type=m.CctvEventType.FIRE, object_class=m.ObjectClass.FIRE,
        bbox=m.BoundingBox(x=0.1, y=0.1, w=0.2, h=0.2), zone=zone,
    )  # fmt: skip
    pub.send_raw(topic_for(DeviceKind.CCTV, cam), m.to_json(ev))


def fire_alerts(p: Platform) -> list[tuple[object, ...]]:
    return p.query("SELECT subject, count(*) FROM alerts WHERE rule = 'cctv.fire' GROUP BY 1 ORDER BY 1")


# -- from test_e2e_ingest --
def counters(p: Platform) -> tuple[int, int, int, int]:
    row = p.query(
        "SELECT coalesce(sum(received),0), coalesce(sum(written),0), coalesce(sum(duplicates),0),"
        " coalesce(sum(dead_lettered),0) FROM ingest_counters"
    )[0]
    return tuple(int(x) for x in row)  # type: ignore[return-value]


def needs_data(path: Path, what: str) -> pytest.MarkDecorator:
    """Mark a test that compares with a reference data set (``path``, under ../shared/data): skipped,
    saying so, where it is absent; a failure instead under ``CITYWATCH_REQUIRE_DATA=1`` (CI)."""
    return pytest.mark.data(path=path, what=what)


def setting_variables() -> list[tuple[type[Any], str, str]]:
    """Every environment variable of every settings section: (section, field, variable), the variable
    from the section's own prefix (a section inside another is listed field by field, not as one)."""
    from pydantic_settings import BaseSettings

    from citywatch import settings as cs

    sections = [
        cs.Settings, cs.DatabaseSettings, cs.DatabaseRolesSettings, cs.MqttSettings, cs.IngestSettings,
        cs.AnalyticsSettings, cs.BoardingSettings, cs.ApiSettings, cs.PrivacySettings,
    ]  # fmt: skip
    return [
        (cls, name, f"{cls.model_config.get('env_prefix', '')}{name.upper()}")
        for cls in sections
        for name, f in cls.model_fields.items()
        if not (isinstance(f.annotation, type) and issubclass(f.annotation, BaseSettings))
    ]


# -- a garage that counts at its gates ---------------------------------------------------------------
GARAGE_EVERY = timedelta(minutes=30)


def garage_counts(
    start: datetime, weeks: float, capacity: int, seed: int = 1
) -> list[tuple[datetime, int, int, int, int]]:
    """A city-centre multi-storey garage's counter, every 30 min: (time, occupied, capacity, entries, exits)
    — nearly empty at night, ~85 % at midday on weekdays and half that at weekends (Seoul time), its gates'
    cars in and out balancing the count's every change, with a few cars through each way besides."""
    import math
    import random

    r = random.Random(seed)
    out: list[tuple[datetime, int, int, int, int]] = []
    prev, t = None, start
    while t < start + timedelta(weeks=weeks):
        local = t.astimezone(ZoneInfo("Asia/Seoul"))
        day = math.sin(math.pi * (local.hour + local.minute / 60 - 6) / 14) if 6 <= local.hour < 20 else 0.0
        usual = int(capacity * (0.03 + (0.85 if local.weekday() < 5 else 0.45) * max(0.0, day)))
        occ = max(0, min(capacity, usual + r.randint(-4, 4)))
        step = 0 if prev is None else occ - prev
        churn = r.randint(0, 20)
        out.append((t, occ, capacity, max(step, 0) + churn, max(-step, 0) + churn))
        prev, t = occ, t + GARAGE_EVERY
    return out


def hourly_stations(url: str, rows: list[tuple[Any, ...]]) -> None:
    """Zone ``z`` of hourly stations with their readings: ``rows`` of (time, device, seq, pm10, pm25, o3,
    no2, co, so2), each received at its time."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO zones VALUES ('z', 'Zone')")
        for dev in sorted({r[1] for r in rows}):
            conn.execute(
                "INSERT INTO devices (device_id, kind, name, zone_id, expected_interval_s) VALUES (%s, 'aq', %s, 'z', 3600)",
                (dev, dev),
            )
        conn.cursor().executemany(
            "INSERT INTO air_quality (time, device_id, seq, pm10, pm25, o3, no2, co, so2, received_at)"
            " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            [(*r, r[0]) for r in rows],
        )
