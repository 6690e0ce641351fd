"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis): whatever a client
sends, the answer is never a server error, and errors are problem documents."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.security import hash_password
from tests.support import PASSWORDS, Api, module_platform, start_api
from tools.localservices import PostgresServer

_n = itertools.count()


@pytest.fixture(scope="module")
def fuzz_api(pg: PostgresServer, workdir: Path) -> Iterator[Api]:
    p = module_platform(pg, workdir)
    with psycopg.connect(p.db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO api_users (username, password_hash, role) VALUES ('admin', %s, 'admin')",
            (hash_password(PASSWORDS["admin"]),),
        )
    server, s = start_api(p)
    yield Api(f"http://127.0.0.1:{s.api.port}", p, s)
    server.stop()
    p.broker.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_api: Api) -> schemathesis.BaseSchema:
    spec = httpx.get(f"{fuzz_api.url}/openapi.json").json()
    for path in [p for p in spec["paths"] if p.endswith("/stream")]:
        del spec["paths"][
            path
        ]  # live streams never end by design; test_api_stream and the browser tests cover them
    return schemathesis.openapi.from_dict(spec)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def admin_token(fuzz_api: Api) -> str:
    return fuzz_api.token("admin")


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(case, fuzz_api: Api, admin_token: str) -> None:  # type: ignore[no-untyped-def]
    # sent with httpx: grafana-client's niquests replaces urllib3, which schemathesis' requests transport needs
    kw = case.as_transport_kwargs(base_url=fuzz_api.url, headers={"Authorization": f"Bearer {admin_token}"})
    data = kw.get("data")
    response = httpx.request(
        kw["method"],
        kw["url"],
        headers=kw.get("headers"),
        params=kw.get("params"),
        cookies=kw.get("cookies"),
        json=kw.get("json"),
        data=data if isinstance(data, dict) else None,
        content=data if isinstance(data, (bytes, str)) else None,
        timeout=30,
    )
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"
    )
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", response.text
        body = response.json()
        assert body["status"] == response.status_code and body["detail"]
