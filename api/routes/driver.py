"""The bus-driver terminal: a bus signs in with its own credentials and sees only its own bus."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.security import OAuth2PasswordRequestForm
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ConfigDict, Field

from api.common import audit
from api.deps import Operator, State, api_key_scheme, bearer_scheme, from_claims, principal, token_claims
from api.problems import Problem, responses
from api.security import Role, sign
from citywatch.broker import derive_password
from citywatch.i18n import Text

router = APIRouter(prefix="/driver", tags=["driver terminal"])

TERMINAL_SCOPE = "terminal"


#: a pairing code: its digits, how long it lasts, how many wrong tries void it
PAIRING_DIGITS = 6
PAIRING_TTL_S = 600
PAIRING_TRIES = 5


class Pairing(BaseModel):
    bus_id: str
    code: str = Field(description="the digits to type on the terminal, once, within the time given")
    expires_at: datetime


class PairIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bus: str = Field(min_length=1, max_length=64)
    code: str = Field(
        min_length=1, max_length=16, description="the digits the console showed (spaces allowed)"
    )


class TerminalToken(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    bus_id: str


class AckIn(BaseModel):
    stop_id: str = Field(min_length=1, max_length=64)
    request_ids: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=100)


@router.post(
    "/token",
    response_model=TerminalToken,
    summary="A bus terminal signs in",
    responses=responses(401, 422, 429),
)
def terminal_login(
    st: State, request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TerminalToken:
    """``username`` is the bus id, ``password`` the bus's broker password (the one its on-board unit uses)."""
    client = request.client.host if request.client else "unknown"
    account = f"bus:{form.username}"
    st.limiter.guard(account, client, "sign_ins")
    row = st.db.one(
        "SELECT credential_version FROM devices WHERE device_id = %s AND kind = 'bus' AND status = 'active'",
        (form.username,),
    )
    secret = st.settings.device_secret.get_secret_value()
    expected = derive_password(secret, form.username, row["credential_version"] if row else 1)
    if row is None or not hmac.compare_digest(expected, form.password):
        st.limiter.failed(account, client)
        raise Problem(401, Text("error.bus.login"), headers={"WWW-Authenticate": "Bearer"})
    st.limiter.succeeded(account, client)
    return _terminal_token(st, form.username, row["credential_version"])


def _terminal_token(st: State, bus: str, cv: int) -> TerminalToken:
    ttl = 7 * 86400  # a terminal stays signed in for a week of shifts
    token = sign(bus, st.settings.api.token_secret.get_secret_value(), ttl, scope=TERMINAL_SCOPE, cv=cv)
    return TerminalToken(access_token=token, expires_in=ttl, bus_id=bus)


def _code_digest(bus: str, code: str) -> bytes:
    return hashlib.sha256(f"{bus}:{code}".encode()).digest()


@router.post(
    "/{bus}/pairing",
    response_model=Pairing,
    status_code=201,
    summary="A one-time code to pair the bus's terminal (operator)",
    description=f"{PAIRING_DIGITS} digits, valid {PAIRING_TTL_S // 60} minutes, for one terminal, void after "
    f"{PAIRING_TRIES} wrong tries; the operator reads it out to the driver, who types it on the terminal "
    "(`POST /api/v1/driver/pair`) instead of the bus's password. A new code voids the bus's earlier ones.",
    responses=responses(401, 403, 404),
)
def new_pairing(st: State, who: Operator, bus: str) -> dict[str, Any]:
    if (
        st.db.one(
            "SELECT 1 AS x FROM devices WHERE device_id = %s AND kind = 'bus' AND status = 'active'", (bus,)
        )
        is None
    ):
        raise Problem(404, Text("error.bus.unknown", {"bus": bus}))
    code = f"{secrets.randbelow(10**PAIRING_DIGITS):0{PAIRING_DIGITS}d}"
    expires = datetime.now(UTC) + timedelta(seconds=PAIRING_TTL_S)
    with st.db.pool.connection() as conn, conn.transaction():
        conn.execute("UPDATE terminal_pairings SET expires_at = now() WHERE bus_id = %s AND used_at IS NULL"
                     " AND expires_at > now()", (bus,))  # fmt: skip
        conn.execute(
            "INSERT INTO terminal_pairings (bus_id, code_digest, created_by, expires_at) VALUES (%s, %s, %s, %s)",
            (bus, _code_digest(bus, code), who.name, expires),
        )
    audit(st.db, who.name, "terminal.pairing", bus, {"expires_at": expires.isoformat()})
    return {"bus_id": bus, "code": code, "expires_at": expires}


@router.post(
    "/pair",
    response_model=TerminalToken,
    summary="A bus terminal pairs with the code the control centre gave",
    responses=responses(401, 422, 429),
)
def pair(st: State, request: Request, body: PairIn) -> TerminalToken:
    client = request.client.host if request.client else "unknown"
    account = f"pair:{body.bus}"
    st.limiter.guard(account, client, "codes")
    code = "".join(body.code.split())
    with st.db.pool.connection() as conn, conn.transaction():
        row = conn.execute(
            "UPDATE terminal_pairings p SET used_at = now() FROM devices d"
            " WHERE p.bus_id = %s AND p.code_digest = %s AND p.used_at IS NULL AND p.expires_at > now()"
            " AND p.failures < %s AND d.device_id = p.bus_id AND d.status = 'active'"
            " RETURNING d.credential_version",
            (body.bus, _code_digest(body.bus, code), PAIRING_TRIES),
        ).fetchone()
        if row is None:  # a wrong code counts against the bus's live codes
            conn.execute(
                "UPDATE terminal_pairings SET failures = failures + 1 WHERE bus_id = %s AND used_at IS NULL"
                " AND expires_at > now()",
                (body.bus,),
            )
    if row is None:
        st.limiter.failed(account, client)
        raise Problem(401, Text("error.bus.code"))
    st.limiter.succeeded(account, client)
    return _terminal_token(st, body.bus, row["credential_version"])


def for_bus(
    st: State,
    bus: str,
    bearer: Annotated[str | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> str:
    """The caller is this bus's terminal (or control-centre staff or services, who may look at any bus)."""
    if api_key:  # a service
        who = principal(st, None, api_key)
    elif not bearer:
        raise Problem(401, Text("error.bus.sign_in"), headers={"WWW-Authenticate": "Bearer"})
    elif (claims := token_claims(st, bearer)).get("scope") == TERMINAL_SCOPE:
        if claims["sub"] != bus:
            raise Problem(403, Text("error.bus.other", {"terminal": claims["sub"], "bus": bus}))
        row = st.db.one(
            "SELECT credential_version FROM devices WHERE device_id = %s AND status = 'active'", (bus,)
        )
        if row is None or row["credential_version"] != claims.get("cv"):
            raise Problem(401, Text("error.bus.changed"), headers={"WWW-Authenticate": "Bearer"})
        return f"terminal:{bus}"
    else:  # control-centre staff
        who = from_claims(st, claims)
    if not who.can(Role.VIEWER):
        raise Problem(403, Text("error.forbidden"))
    return who.name


Caller = Annotated[str, Depends(for_bus)]


def own_terminal(bus: str, who: Caller) -> str:
    if who != f"terminal:{bus}":
        raise Problem(403, Text("error.bus.own"))
    return who


Terminal = Annotated[str, Depends(own_terminal)]


@router.get("/{bus}/state", summary="What the terminal shows now", responses=responses(401, 403))
def state(st: State, bus: str, _who: Caller) -> dict[str, Any]:
    return st.terminals.current(bus)  # type: ignore[no-any-return]


@router.get(
    "/{bus}/stream",
    response_class=EventSourceResponse,
    summary="The terminal's state, live (Server-Sent Events): the whole state on connect and on every change",
    responses=responses(401, 403),
)
async def stream(st: State, bus: str, _who: Caller) -> AsyncIterator[ServerSentEvent]:
    relay = st.terminals
    seen = relay.version.get(bus, 0)
    async with st.metrics.subscribed("driver"):
        yield ServerSentEvent(data=relay.current(bus), event="state", retry=1000)
        while True:
            now = await relay.wait(bus, seen, 15.0)
            if now != seen:
                seen = now
                yield ServerSentEvent(data=relay.current(bus), event="state")


@router.post(
    "/{bus}/ack",
    status_code=202,
    summary="The driver acknowledges the stop shown",
    responses=responses(401, 403, 409, 422),
)
def acknowledge(st: State, bus: str, _who: Terminal, body: AckIn) -> dict[str, Any]:
    shown = {s["stop_id"] for s in st.terminals.current(bus)["stops"]}
    if body.stop_id not in shown:
        raise Problem(409, Text("error.bus.stop_gone", {"stop": body.stop_id}))
    row = st.db.one("SELECT coalesce(max(seq), -1) + 1 AS seq FROM driver_acks WHERE device_id = %s", (bus,))
    seq = int(row["seq"]) if row else 0
    sent = st.terminals.acknowledge(bus, body.stop_id, body.request_ids, seq)
    return {"accepted": True, "stop_id": body.stop_id, "seq": sent}
