"""The authorization matrix: every operation of the API's own OpenAPI document × every kind of caller —
nobody, an expired token, a tampered token, a token signed with another key, an unsigned (``alg: none``)
token, a bus terminal's token, an API key, and each role. Every operation must be classified in
``POLICY`` (a new route that is not fails this test until someone decides who may call it)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from api.security import Role, issue_token, sign
from tests.support import PARAMS, Api

RANK = {"viewer": 1, "operator": 2, "admin": 3}
PUBLIC = "public"
TERMINAL = "terminal"  # the bus's own terminal; staff may read (viewer) but not act

# (method, path) -> who may call it: a minimum role, "public", or "terminal"
POLICY: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("POST", "/api/v1/driver/token"): PUBLIC,
    ("POST", "/api/v1/driver/pair"): PUBLIC,  # a terminal pairs with a code an operator gave
    ("POST", "/api/v1/driver/{bus}/pairing"): "operator",
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/api/v1/i18n"): PUBLIC,  # the sign-in page's texts
    ("PATCH", "/api/v1/auth/me"): "viewer",  # a person's own language
    ("GET", "/api/v1/users"): "admin",
    ("POST", "/api/v1/users"): "admin",
    ("PATCH", "/api/v1/users/{username}"): "admin",
    ("GET", "/api/v1/api-keys"): "admin",
    ("POST", "/api/v1/api-keys"): "admin",
    ("DELETE", "/api/v1/api-keys/{prefix}"): "admin",
    ("POST", "/api/v1/devices"): "admin",
    ("PATCH", "/api/v1/devices/{device_id}"): "admin",
    ("DELETE", "/api/v1/devices/{device_id}"): "admin",
    ("POST", "/api/v1/devices/{device_id}/credentials"): "admin",
    ("POST", "/api/v1/devices/import"): "admin",
    ("PUT", "/api/v1/zones/{zone_id}"): "admin",
    ("PUT", "/api/v1/parking/lots/{lot_id}"): "admin",
    ("PUT", "/api/v1/transit/feed"): "admin",
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): "operator",
    ("POST", "/api/v1/alerts/bulk"): "operator",
    ("POST", "/api/v1/alerts/{alert_id}/resolve"): "operator",
    ("POST", "/api/v1/alerts/{alert_id}/confirm"): "operator",
    ("POST", "/api/v1/alerts/{alert_id}/assign"): "operator",
    ("POST", "/api/v1/alerts/{alert_id}/comments"): "operator",
    ("POST", "/api/v1/alerts/{alert_id}/procedure/{step}"): "operator",
    ("POST", "/api/v1/maintenance"): "operator",
    ("POST", "/api/v1/maintenance/{window_id}/end"): "operator",
    ("PATCH", "/api/v1/maintenance/{window_id}"): "operator",
    ("GET", "/api/v1/driver/{bus}/state"): "viewer",
    ("GET", "/api/v1/driver/{bus}/stream"): "viewer",
    ("POST", "/api/v1/driver/{bus}/ack"): TERMINAL,
}
VIEWER_PREFIXES = (
    "/api/v1/",
    "/ngsi-ld/v1/",
    "/gtfs-rt/",
    "/B552584/",
)  # every other GET: any signed-in role


def _b64(d: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def operations(api: Api) -> list[tuple[str, str, str]]:
    """(method, path template, policy) for every operation of the schema."""
    schema = httpx.get(f"{api.url}/openapi.json", timeout=10).json()
    out = []
    for path, ops in schema["paths"].items():
        for method in ops:
            key = (method.upper(), path)
            if key in POLICY:
                out.append((*key, POLICY[key]))
            elif method == "get" and path.startswith(VIEWER_PREFIXES):
                out.append((*key, "viewer"))
            else:
                raise AssertionError(f"{key} is not classified in POLICY")
    return out


def status(c: httpx.Client, method: str, path: str) -> int:
    """The status only: streams are opened and closed at once."""
    kw: dict[str, object] = {"json": {}} if method in ("POST", "PATCH", "PUT") else {}
    with c.stream(method, path, **kw) as r:  # type: ignore[arg-type]
        return r.status_code


@pytest.fixture
def callers(api: Api) -> Iterator[dict[str, dict[str, str]]]:
    secret = api.settings.api.token_secret.get_secret_value()
    viewer = api.token("viewer")
    head, body, sig = viewer.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    with api.client("admin") as admin:
        key = admin.post("/api/v1/api-keys", json={"name": "matrix", "role": "viewer"}).json()["key"]
        cv = admin.get("/api/v1/devices/bus-0101").json().get("credential_version", 1)
    terminal = sign("bus-0101", secret, 3600, scope="terminal", cv=cv)
    bearer = {
        "expired": issue_token("admin", Role.ADMIN, secret, 60, now=1_000_000_000.0),
        "tampered": f"{head}.{_b64({**claims, 'role': 'admin', 'sub': 'admin'})}.{sig}",
        "other key": issue_token("admin", Role.ADMIN, "not-the-platform-secret-0123456789", 3600),
        "unsigned": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({**claims, 'sub': 'admin'})}.",
        "terminal": terminal,
        "viewer": viewer,
        "operator": api.token("operator"),
        "admin": api.token("admin"),
    }
    out = {name: {"Authorization": f"Bearer {t}"} for name, t in bearer.items()}
    out["nobody"] = {}
    out["api key (viewer)"] = {"X-API-Key": key}
    yield out


def expected(policy: str, caller: str) -> str:
    """'ok' (anything but 401/403), '401' or '403'."""
    if policy == PUBLIC:
        return "ok"
    if caller in ("nobody", "expired", "tampered", "other key", "unsigned"):
        return "401"
    role = {"api key (viewer)": "viewer"}.get(caller, caller)
    if policy == TERMINAL:
        return "ok" if caller == "terminal" else "403"
    if caller == "terminal":
        # a terminal may read its own bus; it is nobody on the control centre's routes
        return "401"
    return "ok" if RANK[role] >= RANK[policy] else "403"


def test_every_route_for_every_caller(api: Api, callers: dict[str, dict[str, str]]) -> None:
    ops = operations(api)
    assert len(ops) >= 40
    wrong = []
    for caller, headers in callers.items():
        with httpx.Client(base_url=api.url, headers=headers, timeout=10) as c:
            for method, template, policy in ops:
                path = template
                for k, v in PARAMS.items():
                    path = path.replace(k, v)
                got = status(c, method, path)
                want = expected(policy, caller)
                if (
                    caller == "terminal"
                    and template.startswith("/api/v1/driver/{bus}/")
                    and policy != "operator"
                ):
                    want = "ok"  # its own bus (but a pairing code is the control centre's to give)
                ok = got not in (401, 403) if want == "ok" else got == int(want)
                if not ok:
                    wrong.append((caller, method, path, got, want))
    assert wrong == [], "\n".join(map(str, wrong))


def test_a_terminal_token_is_not_an_operator_even_with_the_same_name(api: Api) -> None:
    """Scope confusion: a bus terminal's token names the bus; an operator account with that very name
    must not be reachable with it."""
    from api.security import hash_password

    with psycopg.connect(api.platform.db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO api_users (username, password_hash, role) VALUES ('bus-0101', %s, 'admin')",
            (hash_password("some-long-password-1"),),
        )
    secret = api.settings.api.token_secret.get_secret_value()
    terminal = sign("bus-0101", secret, 3600, scope="terminal", cv=1)
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {terminal}"}, timeout=10) as c:
        assert c.get("/api/v1/users").status_code == 401
        assert c.get("/api/v1/auth/me").status_code == 401
