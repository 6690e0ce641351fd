"""API authentication and roles, against the real database: tokens, API keys, rate limits, 403s."""

from __future__ import annotations

import httpx
import pytest

from api.db import Database
from api.login_limit import LoginLimiter
from api.security import InvalidToken, Role, issue_token, read_token, verify_password
from tests.support import PASSWORDS, Api, Platform, start_api


def test_tokens_sign_expire_and_reject_tampering() -> None:
    t = issue_token("kim", Role.OPERATOR, "key-one-0123456789-0123456789-0123", ttl_s=60)
    assert read_token(t, "key-one-0123456789-0123456789-0123")["sub"] == "kim"
    with pytest.raises(InvalidToken):
        read_token(t, "key-two-0123456789-0123456789-0123")
    with pytest.raises(InvalidToken, match="expired"):
        read_token(
            issue_token("kim", Role.OPERATOR, "key-one-0123456789-0123456789-0123", ttl_s=1, now=1000.0),
            "key-one-0123456789-0123456789-0123",
        )


def test_password_hashes_are_argon2_and_verify() -> None:
    from api.security import hash_password

    h = hash_password("correct horse battery")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "correct horse battery")
    assert not verify_password(h, "wrong")
    assert not verify_password(None, "anything")  # unknown user: same cost, never true
    assert not verify_password("not-a-hash", "x")


def test_the_limiter_counts_failures_per_account_and_address_per_account_and_per_address(db_url: str) -> None:
    db = Database(db_url, max_size=2)
    db.open()
    try:
        lim = LoginLimiter("3/minute", db)
        for _ in range(3):
            assert lim.check("Kim", "10.0.0.1") is None
            lim.failed("Kim", "10.0.0.1")
        held = lim.check("kim", "10.0.0.1")  # names are compared without case
        assert held is not None and held.scope == "account from this address" and 1 <= held.wait_s <= 60
        assert lim.check("kim", "10.0.0.2") is None  # the same account elsewhere: not yet
        assert (
            lim.check("lee", "10.0.0.1") is None
        )  # another account behind the same address: never locked out
        for i in range(4 * 3):  # guessing kim's password from 4 more addresses: 15 failures in all
            lim.failed("kim", f"10.0.1.{i // 3}")
        spread = lim.check("kim", "10.0.9.9")
        assert spread is not None and spread.scope == "account"  # 5 x 3 from anywhere
        for i in range(3 * 20):  # a script spraying names from one machine
            lim.failed(f"nobody-{i}", "10.9.9.9")
        sprayed = lim.check("admin", "10.9.9.9")
        assert sprayed is not None and sprayed.scope == "address"  # 20 x 3 from one address
        # a successful login forgets the account's failures from its address, not elsewhere
        lim.succeeded("KIM", "10.0.0.1")
        assert db.one(
            "SELECT count(*) AS n FROM login_failures WHERE account = 'kim' AND address = '10.0.0.1'"
        ) == {"n": 0}
        assert db.one("SELECT count(*) AS n FROM login_failures WHERE account = 'kim'") == {"n": 12}
    finally:
        db.close()


def test_login_me_and_problem_documents(api: Api) -> None:
    with api.client("operator") as c:
        me = c.get("/api/v1/auth/me").json()
    assert me == {"name": "operator", "role": "operator", "via": "token", "language": None}
    r = httpx.post(f"{api.url}/api/v1/auth/token", data={"username": "operator", "password": "nope"})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()  # in the city's language (Korean), the type the same in every language
    assert body["status"] == 401 and body["type"].endswith("/unauthorized") and body["title"] == "인증 필요"
    assert body["detail"] == "사용자 이름이나 비밀번호가 틀렸거나 사용 중지된 계정입니다"
    english = httpx.post(
        f"{api.url}/api/v1/auth/token",
        data={"username": "operator", "password": "nope"},
        headers={"Accept-Language": "en-GB,en;q=0.9"},
    ).json()
    assert english["type"] == body["type"] and english["title"] == "Unauthorized"
    assert english["detail"] == "wrong user name or password, or the account is disabled"
    unknown = httpx.get(f"{api.url}/api/v1/nowhere", params={"lang": "en"}).json()  # Starlette's own 404 too
    assert (unknown["title"], unknown["detail"]) == ("Not Found", "Not Found")
    assert httpx.get(f"{api.url}/api/v1/nowhere").json()["detail"] == "찾을 수 없음"
    with api.client("viewer") as viewer:  # a field refused by its validation, named in the reader's words
        ko = viewer.get("/api/v1/alerts", params={"limit": 9999}).json()
        en = viewer.get("/api/v1/alerts", params={"limit": 9999, "lang": "en"}).json()
    assert ko["errors"] == [{"field": "query.limit", "message": "500 이하여야 합니다"}]
    assert ko["detail"] == "잘못된 요청: query.limit: 500 이하여야 합니다" and ko["title"] == "입력값 오류"
    assert en["errors"] == [{"field": "query.limit", "message": "Input should be less than or equal to 500"}]
    r = httpx.get(f"{api.url}/api/v1/alerts")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_validation_errors_name_the_field(api: Api) -> None:
    with api.client("viewer") as c:
        r = c.get("/api/v1/alerts", params={"limit": 100000})
    assert r.status_code == 422
    body = r.json()
    assert body["errors"][0]["field"] == "query.limit"
    assert body["errors"][0]["message"] == "500 이하여야 합니다"  # the city's language
    assert "Traceback" not in r.text


def test_login_is_rate_limited(platform: Platform, api: Api) -> None:
    server, settings = start_api(platform, login_rate="3/minute")
    url = f"http://127.0.0.1:{settings.api.port}/api/v1/auth/token"
    try:
        codes = [
            httpx.post(url, data={"username": "viewer", "password": "wrong"}).status_code for _ in range(5)
        ]
        assert codes == [401, 401, 401, 429, 429]
        r = httpx.post(url, data={"username": "viewer", "password": "viewer-password-1"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1  # even the right password waits
        assert "(이 주소에서 이 계정)" in r.json()["detail"]
        # eight failures for a name that does not exist, from the same address, lock nobody else out
        for _ in range(8):
            httpx.post(url, data={"username": "ghost", "password": "x"})
        assert httpx.post(url, data={"username": "admin", "password": PASSWORDS["admin"]}).status_code == 200
    finally:
        server.stop()
        assert server.thread is not None
        server.thread.join(10)


def test_every_api_instance_shares_the_failed_logins(platform: Platform, api: Api) -> None:
    """Two API processes (workers, or instances behind a balancer) on one database: failures at one count
    at the other, so trying each in turn gains nothing."""
    servers = [start_api(platform, login_rate="3/minute") for _ in range(2)]
    urls = [f"http://127.0.0.1:{s.api.port}/api/v1/auth/token" for _server, s in servers]
    try:
        codes = [
            httpx.post(urls[i % 2], data={"username": "operator", "password": "no"}).status_code
            for i in range(4)
        ]
        assert codes == [401, 401, 401, 429]
        ok = httpx.post(urls[0], data={"username": "viewer", "password": PASSWORDS["viewer"]})
        assert ok.status_code == 200  # another account from the same address
    finally:
        for server, _s in servers:
            server.stop()
            assert server.thread is not None
            server.thread.join(10)


def _mutating_routes(api: Api) -> list[tuple[str, str]]:
    spec = httpx.get(f"{api.url}/openapi.json").json()
    out = []
    for path, ops in spec["paths"].items():
        for method in ops:
            # not the sign-ins (a terminal's pairing too), nor a person's own language (PATCH /auth/me)
            if method in ("post", "patch", "put", "delete") and not path.endswith(
                ("/token", "/pair", "/auth/me")
            ):
                out.append((method.upper(), path))
    return out


def test_a_viewer_gets_403_on_every_mutating_route(api: Api) -> None:
    routes = _mutating_routes(api)
    assert len(routes) >= 10
    concrete = {
        "{alert_id}": "1",
        "{device_id}": "aq-001",
        "{username}": "viewer",
        "{prefix}": "abcd",
        "{bus}": "bus-0101",
    }
    with api.client("viewer") as viewer, api.client(None) as anon:
        for method, path in routes:
            for k, v in concrete.items():
                path = path.replace(k, v)
            assert viewer.request(method, path, json={}).status_code == 403, (method, path)
            assert anon.request(method, path, json={}).status_code == 401, (method, path)


def test_operators_cannot_administer(api: Api) -> None:
    with api.client("operator") as c:
        assert c.get("/api/v1/users").status_code == 403
        assert c.post("/api/v1/api-keys", json={"name": "x"}).status_code == 403
        assert c.delete("/api/v1/devices/aq-001").status_code == 403


def test_api_keys_work_until_revoked(api: Api) -> None:
    with api.client("admin") as admin:
        r = admin.post("/api/v1/api-keys", json={"name": "grafana", "role": "viewer"})
        assert r.status_code == 201
        key = r.json()["key"]
        prefix = r.json()["prefix"]
        assert key.startswith(f"cwk_{prefix}_")
        listed = admin.get("/api/v1/api-keys").json()
        assert [k["prefix"] for k in listed] == [prefix] and "key" not in listed[0]
        with httpx.Client(base_url=api.url, headers={"X-API-Key": key}) as svc:
            assert svc.get("/api/v1/auth/me").json() == {
                "name": f"key:{prefix}",
                "role": "viewer",
                "via": "key",
                "language": None,
            }
            assert svc.get("/api/v1/alerts").status_code == 200
            assert svc.post("/api/v1/alerts/1/acknowledge").status_code == 403
        with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {key}"}) as svc:
            assert svc.get("/api/v1/devices").status_code == 200
        assert admin.delete(f"/api/v1/api-keys/{prefix}").status_code == 204
        r = httpx.get(f"{api.url}/api/v1/devices", headers={"X-API-Key": key})
        assert r.status_code == 401 and "폐기되었습니다" in r.json()["detail"]
        assert (
            httpx.get(f"{api.url}/api/v1/devices", headers={"X-API-Key": "cwk_nope_nope"}).status_code == 401
        )


def test_disabling_a_user_or_changing_a_role_applies_at_once(api: Api) -> None:
    with api.client("operator") as op, api.client("admin") as admin:
        assert op.get("/api/v1/auth/me").json()["role"] == "operator"
        assert admin.patch("/api/v1/users/operator", json={"role": "viewer"}).status_code == 200
        assert op.get("/api/v1/auth/me").json()["role"] == "viewer"
        assert admin.patch("/api/v1/users/operator", json={"disabled": True}).status_code == 200
        assert op.get("/api/v1/auth/me").status_code == 401
        r = admin.post("/api/v1/users", json={"username": "admin", "password": "0123456789"})
        assert r.status_code == 409
        r = admin.post("/api/v1/users", json={"username": "lee", "password": "short"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.password"
        assert (
            admin.post(
                "/api/v1/users", json={"username": "lee", "password": "0123456789", "role": "operator"}
            ).status_code
            == 201
        )
    assert api.token("lee", "0123456789")


def test_health_endpoints(api: Api) -> None:
    assert httpx.get(f"{api.url}/healthz").json() == {"status": "ok"}
    r = httpx.get(f"{api.url}/readyz")
    assert r.status_code == 200
    assert r.json()["checks"]["database"]["ok"] and r.json()["checks"]["broker"]["ok"]
    api.platform.broker.stop()
    r = httpx.get(f"{api.url}/readyz")
    assert r.status_code == 503 and not r.json()["checks"]["broker"]["ok"]
