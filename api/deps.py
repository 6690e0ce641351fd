"""FastAPI dependencies: the app's state, the caller, role checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Security
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from analytics.config import Rules
from api.db import Database
from api.login_limit import LoginLimiter
from api.problems import Problem, reader_language
from api.security import InvalidToken, Principal, Role, key_digest, looks_like_key, read_token
from citywatch import i18n
from citywatch.i18n import Text
from citywatch.settings import Settings

TOKEN_URL = "/api/v1/auth/token"
bearer_scheme = OAuth2PasswordBearer(
    tokenUrl=TOKEN_URL, auto_error=False, description="operator token or API key"
)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="service API key")


@dataclass
class ApiState:
    settings: Settings
    db: Database
    limiter: LoginLimiter
    feed: Any  # api.stream.AlertFeed (typed loosely to avoid an import cycle)
    rules: Rules
    terminals: Any  # api.terminal.TerminalRelay
    metrics: Any  # api.metrics.ApiMetrics
    names: Any = None  # api.names.PlaceNames: places by their names, for texts read in a language


def state(request: Request) -> ApiState:
    st: ApiState = request.app.state.citywatch
    return st


State = Annotated[ApiState, Depends(state)]

_UNAUTH = {"WWW-Authenticate": "Bearer"}
KEY_USE_RESOLUTION = timedelta(minutes=1)


def _from_key(st: ApiState, key: str) -> Principal:
    digest = key_digest(key)
    row = st.db.one(
        "SELECT prefix, role, revoked_at, expires_at, last_used_at FROM api_keys WHERE digest = %s", (digest,)
    )
    if row is None:
        raise Problem(401, Text("error.key.unknown"), headers=_UNAUTH)
    if row["revoked_at"] is not None:
        raise Problem(401, Text("error.key.revoked", {"prefix": row["prefix"]}), headers=_UNAUTH)
    now = datetime.now(UTC)
    if row["expires_at"] is not None and row["expires_at"] <= now:
        raise Problem(401, Text("error.key.expired", {"prefix": row["prefix"]}), headers=_UNAUTH)
    if row["last_used_at"] is None or now - row["last_used_at"] > KEY_USE_RESOLUTION:
        # when a key was last used, to the minute: one write a minute per key, not one per request
        st.db.one("UPDATE api_keys SET last_used_at = now() WHERE digest = %s RETURNING 1", (digest,))
    return Principal(f"key:{row['prefix']}", Role.of(row["role"]), "key")


def token_claims(st: ApiState, token: str) -> dict[str, Any]:
    """The verified claims of a bearer token (401 when it is not one of ours, or expired)."""
    try:
        return read_token(token, st.settings.api.token_secret.get_secret_value())
    except InvalidToken as e:
        raise Problem(401, str(e), headers=_UNAUTH) from None


def _from_token(st: ApiState, token: str) -> Principal:
    return from_claims(st, token_claims(st, token))


def from_claims(st: ApiState, claims: dict[str, Any]) -> Principal:
    """The operator account a verified token names."""
    if claims.get("scope") is not None:  # a bus terminal's token names a bus, not an operator account
        raise Problem(401, Text("error.token.terminal"), headers=_UNAUTH)
    # the account is read on every request: disabling it or changing its role applies at once
    row = st.db.one("SELECT role, disabled FROM api_users WHERE username = %s", (claims["sub"],))
    if row is None or row["disabled"]:
        raise Problem(401, Text("error.account.disabled"), headers=_UNAUTH)
    return Principal(claims["sub"], Role.of(row["role"]), "token")


def principal(
    st: State,
    bearer: Annotated[str | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> Principal:
    credential = api_key or bearer
    if not credential:
        raise Problem(401, Text("error.auth.required"), headers=_UNAUTH)
    if looks_like_key(credential):
        return _from_key(st, credential)
    return _from_token(st, credential)


def require(role: Role) -> Any:
    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.can(role):
            raise Problem(
                403,
                Text(
                    "error.role",
                    {
                        "who": who.name,
                        "has": Text(f"role.{who.role.label}"),
                        "needs": Text(f"role.{role.label}"),
                    },
                ),
            )
        return who

    return Depends(check)


def language(
    request: Request,
    lang: Annotated[
        str | None,
        Query(
            description="the language to answer in (ko, en); else the browser's Accept-Language, else the city's"
        ),
    ] = None,
) -> str:
    """The language a person reads this answer in (:func:`api.problems.reader_language`), ``lang`` checked."""
    if lang is not None and lang not in i18n.LANGUAGES:
        raise Problem(
            422,
            unknown := Text("error.language", {"lang": lang, "known": ", ".join(i18n.LANGUAGES)}),
            errors=[{"field": "query.lang", "message": unknown}],
        )
    return reader_language(request)


Language = Annotated[str, Depends(language)]
Viewer = Annotated[Principal, require(Role.VIEWER)]
Operator = Annotated[Principal, require(Role.OPERATOR)]
Admin = Annotated[Principal, require(Role.ADMIN)]
