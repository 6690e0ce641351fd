"""Real services for the tests: one PostgreSQL+TimescaleDB cluster per session
(a fresh database per test) and a fresh Mosquitto broker per test, each on a
free port in a temporary directory. Nothing here touches the machine's own
PostgreSQL or Mosquitto. The helpers the tests share are in tests/support.py."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from api.security import hash_password
from citywatch.db import features, roles
from citywatch.db.schema import migrate_all
from citywatch.settings import Settings
from tests.support import (
    _LICENCE,
    EDITION,
    PASSWORDS,
    REQUIRE_DATA,
    SECRET,
    Api,
    IngestThread,
    Platform,
    _db_counter,
    browser,
    browser_ko,
    city_platform,
    start_api,
)
from tools.localservices import MosquittoBroker, PostgresServer, free_port

__all__ = ["browser", "browser_ko"]


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="citywatch-test-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    if EDITION not in _LICENCE:
        raise pytest.UsageError(f"CITYWATCH_TIMESCALEDB={EDITION!r}: expected one of {sorted(_LICENCE)}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The benchmarks' smoke tests (tests/bench) are slow: ``-m "not slow"`` leaves them out."""
    for item in items:
        if item.path.parent.name == "bench":
            item.add_marker(pytest.mark.slow)


def pytest_runtest_setup(item: pytest.Item) -> None:
    data = item.get_closest_marker("data")
    if data is not None and not data.kwargs["path"].exists():
        missing = f"{data.kwargs['what']} not present ({data.kwargs['path']})"
        if REQUIRE_DATA:
            pytest.fail(f"{missing}, and CITYWATCH_REQUIRE_DATA=1 requires it", pytrace=False)
        pytest.skip(missing)
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


@pytest.fixture
def platform(db_url: str, mosquitto: MosquittoBroker) -> Platform:
    """A registered small city, a broker whose accounts come from its registry."""
    return city_platform(db_url, mosquitto)


@pytest.fixture
def run_ingest() -> Callable[[Settings], IngestThread]:
    return IngestThread


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
