"""Logging in, and managing users and API keys (admin)."""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from api.common import audit
from api.deps import TOKEN_URL, Admin, State, Viewer
from api.problems import Problem, responses
from api.schemas import ApiKey, ApiKeyIn, Me, MePatch, NewApiKey, Token, User, UserIn, UserPatch
from api.security import (
    Principal,
    Role,
    hash_password,
    issue_token,
    needs_rehash,
    new_api_key,
    verify_password,
)
from citywatch.i18n import Text

router = APIRouter(tags=["auth"])


@router.post(
    TOKEN_URL.removeprefix("/api/v1"),
    response_model=Token,
    summary="Log in (OAuth2 password flow)",
    responses=responses(401, 422, 429),
)
def login(st: State, request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    client = request.client.host if request.client else "unknown"
    st.limiter.guard(form.username, client)
    row = st.db.one(
        "SELECT password_hash, role, disabled FROM api_users WHERE username = %s", (form.username,)
    )
    if (
        not verify_password(row["password_hash"] if row else None, form.password)
        or row is None
        or row["disabled"]
    ):
        st.limiter.failed(form.username, client)
        raise Problem(
            401,
            Text("error.login"),
            headers={"WWW-Authenticate": "Bearer"},
        )
    if needs_rehash(row["password_hash"]):
        st.db.one(
            "UPDATE api_users SET password_hash = %s WHERE username = %s RETURNING 1",
            (hash_password(form.password), form.username),
        )
    st.db.one("UPDATE api_users SET last_login_at = now() WHERE username = %s RETURNING 1", (form.username,))
    st.limiter.succeeded(form.username, client)
    ttl = st.settings.api.token_ttl_s
    role = Role.of(row["role"])
    token = issue_token(form.username, role, st.settings.api.token_secret.get_secret_value(), ttl)
    return Token(access_token=token, expires_in=ttl, role=role.label)


def _language(st: State, who: Principal) -> str | None:
    if who.via != "token":
        return None
    row = st.db.one("SELECT language FROM api_users WHERE username = %s", (who.name,))
    return row["language"] if row else None


@router.get("/auth/me", response_model=Me, summary="Who am I", responses=responses(401))
def me(st: State, who: Viewer) -> Me:
    return Me(name=who.name, role=who.role.label, via=who.via, language=_language(st, who))


@router.patch(
    "/auth/me",
    response_model=Me,
    summary="Choose the language I read citywatch in (any signed-in person)",
    responses=responses(401, 403, 422),
)
def choose(st: State, who: Viewer, body: MePatch) -> Me:
    if who.via != "token":
        raise Problem(403, Text("error.key.language"))
    st.db.one("UPDATE api_users SET language = %s WHERE username = %s RETURNING 1", (body.language, who.name))
    return Me(name=who.name, role=who.role.label, via=who.via, language=body.language)


# -- users -------------------------------------------------------------------------
_USER_COLS = "username, full_name, role, disabled, created_at, last_login_at"


@router.get("/users", response_model=list[User], tags=["admin"], responses=responses(401, 403))
def list_users(st: State, _who: Admin) -> list[dict[str, Any]]:
    return st.db.all(f"SELECT {_USER_COLS} FROM api_users ORDER BY username")


@router.post(
    "/users", response_model=User, status_code=201, tags=["admin"], responses=responses(401, 403, 409, 422)
)
def create_user(st: State, who: Admin, body: UserIn) -> dict[str, Any]:
    try:
        row = st.db.one(
            f"INSERT INTO api_users (username, full_name, password_hash, role) VALUES (%s, %s, %s, %s)"
            f" RETURNING {_USER_COLS}",
            (body.username, body.full_name, hash_password(body.password), body.role),
        )
    except psycopg.errors.UniqueViolation:
        raise Problem(409, Text("error.user.exists", {"user": body.username})) from None
    audit(st.db, who.name, "user.create", body.username, {"role": body.role})
    assert row is not None
    return row


@router.patch(
    "/users/{username}", response_model=User, tags=["admin"], responses=responses(401, 403, 404, 422)
)
def update_user(st: State, who: Admin, username: str, body: UserPatch) -> dict[str, Any]:
    sets: list[str] = []
    params: list[Any] = []
    if body.password is not None:
        sets.append("password_hash = %s")
        params.append(hash_password(body.password))
    for col in ("role", "full_name", "disabled"):
        v = getattr(body, col)
        if v is not None:
            sets.append(f"{col} = %s")
            params.append(v)
    if not sets:
        raise Problem(
            422, Text("error.nothing"), errors=[{"field": "body", "message": Text("error.nothing")}]
        )
    row = st.db.one(
        f"UPDATE api_users SET {', '.join(sets)}, updated_at = now() WHERE username = %s RETURNING {_USER_COLS}",
        [*params, username],
    )
    if row is None:
        raise Problem(404, Text("error.user.unknown", {"user": username}))
    changed = body.model_dump(exclude_none=True, exclude={"password"})
    if body.password is not None:
        changed["password"] = "changed"
    audit(st.db, who.name, "user.update", username, changed)
    return row


# -- API keys ------------------------------------------------------------------------
_KEY_COLS = "prefix, name, role, created_by, created_at, expires_at, last_used_at, revoked_at"


@router.get("/api-keys", response_model=list[ApiKey], tags=["admin"], responses=responses(401, 403))
def list_keys(st: State, _who: Admin) -> list[dict[str, Any]]:
    return st.db.all(f"SELECT {_KEY_COLS} FROM api_keys ORDER BY created_at DESC")


@router.post(
    "/api-keys", response_model=NewApiKey, status_code=201, tags=["admin"], responses=responses(401, 403, 422)
)
def create_key(st: State, who: Admin, body: ApiKeyIn) -> dict[str, Any]:
    k = new_api_key()
    row = st.db.one(
        f"INSERT INTO api_keys (prefix, digest, name, role, created_by, expires_at) VALUES (%s, %s, %s, %s, %s, %s)"
        f" RETURNING {_KEY_COLS}",
        (k.prefix, k.digest, body.name, body.role, who.name, body.expires_at),
    )
    assert row is not None
    audit(st.db, who.name, "api_key.create", k.prefix, {"name": body.name, "role": body.role})
    return {**row, "key": k.secret}


@router.delete("/api-keys/{prefix}", status_code=204, tags=["admin"], responses=responses(401, 403, 404))
def revoke_key(st: State, who: Admin, prefix: str) -> Response:
    row = st.db.one(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE prefix = %s RETURNING prefix",
        (prefix,),
    )
    if row is None:
        raise Problem(404, Text("error.key.absent", {"prefix": prefix}))
    audit(st.db, who.name, "api_key.revoke", prefix)
    return Response(status_code=204)
