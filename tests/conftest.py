"""Real services for the tests: one PostgreSQL+TimescaleDB cluster per session
(a fresh database per test) and a fresh Mosquitto broker per test, each on a
free port in a temporary directory. Nothing here touches the machine's own
PostgreSQL or Mosquitto."""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest

from api.app import ApiServer
from api.security import hash_password
from citywatch import broker
from citywatch.db import features, roles
from citywatch.db.schema import migrate_all
from citywatch.devices import broker_accounts
from citywatch.localservices import MosquittoBroker, PostgresServer, free_port
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

SECRET = "test-secret"
#: The TimescaleDB edition this run tests: ``apache`` (Debian's build, the default) or ``tsl`` (the
#: Timescale License edition, ``CITYWATCH_TIMESCALEDB=tsl make test``, whose PostgreSQL tree the Makefile
#: passes in CITYWATCH_PG_BINDIR). Tests about one edition carry ``@pytest.mark.edition(NAME)``.
EDITION = os.environ.get("CITYWATCH_TIMESCALEDB", "apache")
_LICENCE = {"apache": "apache", "tsl": "timescale"}
DATA_TABLES = ("air_quality", "parking_events", "cctv_events", "bus_positions", "stop_requests")
ALL_TABLES = (*DATA_TABLES, "device_status")
_db_counter = itertools.count(1)


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="citywatch-test-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    if EDITION not in _LICENCE:
        raise pytest.UsageError(f"CITYWATCH_TIMESCALEDB={EDITION!r}: expected one of {sorted(_LICENCE)}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("edition")
    if marker is not None and marker.args[0] != EDITION:
        pytest.skip(
            f"about the {marker.args[0]} edition of TimescaleDB; this lane runs the {EDITION} edition"
        )


@pytest.fixture(scope="session")
def pg(workdir: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(workdir / "pg", free_port(), durable=False)  # bindir: CITYWATCH_PG_BINDIR
    server.start()
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        got = features.licence(conn)
    if got != _LICENCE[EDITION]:
        server.stop()
        pytest.exit(
            f"the {EDITION} lane needs TimescaleDB licence {_LICENCE[EDITION]!r}; {server.bindir} has {got!r}"
        )
    with psycopg.connect(server.admin_url, autocommit=True) as conn:  # the services' roles, able to log in
        for service in roles.SERVICES:  # (the cluster trusts local logins: no password)
            conn.execute(f"CREATE ROLE {roles.role(service)} LOGIN")
    yield server
    server.stop()


@pytest.fixture
def db_url(pg: PostgresServer) -> str:
    """A fresh, migrated database for this test."""
    url = pg.create_database(f"t{next(_db_counter)}")
    migrate_all(url)
    return url


@pytest.fixture
def mosquitto(workdir: Path) -> Iterator[MosquittoBroker]:
    """A fresh broker (own port and data dir); call ``configure`` with the accounts before ``start``."""
    b = MosquittoBroker(workdir / f"mq-{next(_db_counter)}", free_port(), SECRET)
    yield b
    b.stop()


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


@pytest.fixture
def platform(db_url: str, mosquitto: MosquittoBroker) -> Platform:
    """A registered small city, a broker whose accounts come from its registry."""
    return city_platform(db_url, mosquitto)


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


@pytest.fixture
def run_ingest() -> Callable[[Settings], IngestThread]:
    return IngestThread


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
    from analytics.service import AnalyticsService
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


@pytest.fixture
def api(platform: Platform) -> Iterator[Api]:
    """The API on the test platform, with one account per role."""
    with psycopg.connect(platform.db_url, autocommit=True) as conn:
        for role, pw in PASSWORDS.items():
            conn.execute(
                "INSERT INTO api_users (username, password_hash, role) VALUES (%s, %s, %s)",
                (role, hash_password(pw), role),
            )
    server, settings = start_api(platform)
    yield Api(f"http://127.0.0.1:{settings.api.port}", platform, settings)
    server.stop()
    server.thread.join(10)


logging.getLogger("paho").setLevel(logging.WARNING)
__all__ = [
    "PASSWORDS",
    "SECRET",
    "SMALL",
    "Api",
    "IngestThread",
    "Platform",
    "broker",
    "start_api",
    "wait_for",
]
