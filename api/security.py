"""Who is calling, and what they may do.

* Operators log in with the OAuth2 password flow (``POST /api/v1/auth/token``)
  and get a signed, expiring bearer token (JWT, HS256). Each request re-checks
  the account, so disabling a user or changing a role takes effect at once.
* Services (Grafana, a neighbouring city) use long-lived API keys
  (``cwk_<prefix>_<secret>``), sent as ``Authorization: Bearer`` or
  ``X-API-Key``; only a SHA-256 digest is stored, and keys can expire or be revoked.
* Roles are ordered: viewer < operator < admin. Viewers read; operators also
  work alerts; admins also manage users, devices and keys.
* Passwords are hashed with Argon2id (argon2-cffi). Logins are rate limited
  per user name and per client address (``limits``, moving window).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def of(cls, name: str) -> Role:
        return cls[name.upper()]


@dataclass(frozen=True, slots=True)
class Principal:
    name: str  # user name, or "key:<prefix>" for an API key
    role: Role
    via: str  # "token" | "key"

    def can(self, role: Role) -> bool:
        return self.role >= role


# -- passwords ---------------------------------------------------------------
_hasher = PasswordHasher()  # Argon2id with the library's (RFC 9106 low-memory) defaults
#: verified against when the user does not exist, so both paths cost the same time
_DUMMY_HASH = _hasher.hash("citywatch-no-such-user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


# -- access tokens ------------------------------------------------------------
ALGORITHM = "HS256"


def sign(subject: str, secret: str, ttl_s: int, now: float | None = None, **claims: Any) -> str:
    """A signed, expiring token for ``subject`` with extra ``claims``."""
    now = time.time() if now is None else now
    body = {
        "sub": subject,
        "iat": int(now),
        "exp": int(now + ttl_s),
        "jti": secrets.token_hex(8),
        "iss": "citywatch",
    }
    return jwt.encode({**claims, **body}, secret, algorithm=ALGORITHM)


def issue_token(username: str, role: Role, secret: str, ttl_s: int, now: float | None = None) -> str:
    """An operator's access token."""
    return sign(username, secret, ttl_s, now, role=role.label)


class InvalidToken(Exception):
    pass


def read_token(token: str, secret: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer="citywatch", options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired") from None
    except jwt.PyJWTError as e:
        raise InvalidToken(f"invalid token: {e}") from None
    return claims


# -- API keys -------------------------------------------------------------------
KEY_PREFIX = "cwk_"


@dataclass(frozen=True, slots=True)
class NewKey:
    prefix: str  # public identifier, shown in lists
    secret: str  # the whole key; shown once
    digest: bytes


def new_api_key() -> NewKey:
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"
    return NewKey(prefix, key, key_digest(key))


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def looks_like_key(credential: str) -> bool:
    return credential.startswith(KEY_PREFIX)
