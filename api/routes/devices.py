"""The device registry: list, detail, register / update / retire (admin), broker credentials."""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Query
from psycopg.types.json import Jsonb

from alerts import queries
from api.common import audit
from api.deps import Admin, State, Viewer
from api.problems import Problem, responses
from api.schemas import BrokerCredentials, Device, DeviceDetail, DeviceIn, DevicePatch, DeviceState
from citywatch.broker import derive_password
from citywatch.contracts.topics import PREFIX, DeviceKind
from citywatch.i18n import Text

router = APIRouter(prefix="/devices", tags=["devices"])


_LIST_SQL = """
SELECT d.device_id, d.kind, d.name, d.zone_id, d.lot_id, d.lat, d.lon, d.status, d.expected_interval_s,
       d.meta, d.created_at, d.updated_at, d.credential_version,
       s.last_seen, coalesce(s.received, 0) AS received, coalesce(s.gaps, 0) AS gaps,
       b.battery_pct, h.state
FROM devices d
JOIN device_health() h USING (device_id)
LEFT JOIN (SELECT device_id, max(last_received_at) AS last_seen, sum(received)::bigint AS received,
                  sum(gaps)::bigint AS gaps
           FROM device_streams GROUP BY device_id) s USING (device_id)
LEFT JOIN LATERAL (SELECT p.battery_pct FROM parking_events p
                   WHERE d.kind = 'parking' AND p.device_id = d.device_id AND p.battery_pct IS NOT NULL
                   ORDER BY p.time DESC LIMIT 1) b ON true
WHERE (%(kind)s::text IS NULL OR d.kind = %(kind)s) AND (%(zone)s::text IS NULL OR d.zone_id = %(zone)s)
  AND (%(id)s::text IS NULL OR d.device_id = %(id)s)
  AND (%(q)s::text IS NULL OR d.device_id ILIKE '%%' || %(q)s || '%%' OR d.name ILIKE '%%' || %(q)s || '%%')
ORDER BY d.device_id
"""


def _shape(r: dict[str, Any]) -> dict[str, Any]:
    """A device's row: its state is the database's device_health() (the analytics' judgement too)."""
    total = r["received"] + r["gaps"]
    return {**r, "loss_pct": round(100.0 * r["gaps"] / total, 3) if total else None}


def _rows(st: State, **where: Any) -> list[dict[str, Any]]:
    params = {"kind": None, "zone": None, "id": None, "q": None, **where}
    return [_shape(r) for r in st.db.all(_LIST_SQL, params)]


@router.get("", response_model=list[Device], summary="List devices", responses=responses(401, 422))
def list_devices(
    st: State,
    _who: Viewer,
    kind: DeviceKind | None = None,
    zone: str | None = None,
    state: Annotated[
        list[DeviceState] | None, Query(description="online, offline, never_seen, retired")
    ] = None,
    q: Annotated[str | None, Query(max_length=64, description="substring of id or name")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    rows = _rows(st, kind=kind.value if kind else None, zone=zone, q=q)
    if state:
        rows = [r for r in rows if r["state"] in state]
    return rows[offset : offset + limit]


def _detail(st: State, device_id: str) -> dict[str, Any]:
    rows = _rows(st, id=device_id)
    if not rows:
        raise Problem(404, Text("error.device.unknown", {"device": device_id}))
    r = rows[0]
    r["streams"] = st.db.all(
        "SELECT stream, received, gaps, resets, jumps, last_seq, last_time, last_received_at FROM device_streams"
        " WHERE device_id = %s ORDER BY stream",
        (device_id,),
    )
    extra = st.db.one(
        "SELECT count(*) AS dead_letters_24h FROM dead_letters WHERE device_id = %s"
        " AND received_at > now() - interval '24 hours'",
        (device_id,),
    )
    assert extra is not None
    return {**r, **extra, "open_alerts": queries.live_about(st.db, device_id)}


@router.get("/{device_id}", response_model=DeviceDetail, responses=responses(401, 404))
def get_device(st: State, _who: Viewer, device_id: str) -> dict[str, Any]:
    return _detail(st, device_id)


def _credentials(st: State, device_id: str, version: int) -> BrokerCredentials:
    m = st.settings.mqtt
    pw = derive_password(st.settings.device_secret.get_secret_value(), device_id, version)
    return BrokerCredentials(
        device_id=device_id, username=device_id, password=pw, host=m.host, port=m.port, topic_prefix=PREFIX
    )


def _registry_changed(st: State) -> None:
    st.db.one("SELECT pg_notify('citywatch_registry', '') AS n")


@router.post(
    "", response_model=BrokerCredentials, status_code=201, tags=["admin"],
    summary="Register a device; answers with its broker credentials", responses=responses(401, 403, 409, 422),
)  # fmt: skip
def register_device(st: State, who: Admin, body: DeviceIn) -> BrokerCredentials:
    try:
        st.db.one(
            "INSERT INTO devices (device_id, kind, name, lat, lon, zone_id, lot_id, expected_interval_s, meta)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING device_id",
            (
                body.device_id, body.kind.value, body.name, body.lat, body.lon, body.zone_id, body.lot_id,
                body.expected_interval_s, Jsonb(body.meta),
            ),
        )  # fmt: skip
    except psycopg.errors.UniqueViolation:
        raise Problem(409, Text("error.device.exists", {"device": body.device_id})) from None
    except psycopg.errors.ForeignKeyViolation as e:
        raise Problem(422, Text("error.device.place", {"why": e.diag.message_detail})) from None
    audit(st.db, who.name, "device.register", body.device_id, {"kind": body.kind.value})
    _registry_changed(st)
    return _credentials(st, body.device_id, 1)


@router.patch(
    "/{device_id}", response_model=DeviceDetail, tags=["admin"], responses=responses(401, 403, 404, 422)
)
def update_device(st: State, who: Admin, device_id: str, body: DevicePatch) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    if not fields:
        raise Problem(
            422, Text("error.nothing"), errors=[{"field": "body", "message": Text("error.nothing")}]
        )
    sets = ", ".join(f"{k} = %({k})s" for k in fields)
    if "meta" in fields:
        fields["meta"] = Jsonb(fields["meta"] or {})
    try:
        row = st.db.one(
            f"UPDATE devices SET {sets}, updated_at = now() WHERE device_id = %(_id)s RETURNING device_id",
            {**fields, "_id": device_id},
        )
    except psycopg.errors.ForeignKeyViolation as e:
        raise Problem(422, Text("error.device.place", {"why": e.diag.message_detail})) from None
    if row is None:
        raise Problem(404, Text("error.device.unknown", {"device": device_id}))
    audit(st.db, who.name, "device.update", device_id, body.model_dump(exclude_unset=True, mode="json"))
    return _detail(st, device_id)


@router.post(
    "/{device_id}/credentials", response_model=BrokerCredentials, tags=["admin"],
    summary="Issue new broker credentials; the old password stops working", responses=responses(401, 403, 404, 409),
)  # fmt: skip
def rotate_credentials(st: State, who: Admin, device_id: str) -> BrokerCredentials:
    row = st.db.one(
        "UPDATE devices SET credential_version = credential_version + 1, updated_at = now()"
        " WHERE device_id = %s RETURNING credential_version, status",
        (device_id,),
    )
    if row is None:
        raise Problem(404, Text("error.device.unknown", {"device": device_id}))
    if row["status"] == "retired":
        raise Problem(409, Text("error.device.retired", {"device": device_id}))
    audit(st.db, who.name, "device.rotate_credentials", device_id, {"version": row["credential_version"]})
    _registry_changed(st)
    return _credentials(st, device_id, row["credential_version"])


@router.delete(
    "/{device_id}", response_model=DeviceDetail, tags=["admin"],
    summary="Retire a device: its broker account is removed; its data stays", responses=responses(401, 403, 404),
)  # fmt: skip
def retire_device(st: State, who: Admin, device_id: str) -> dict[str, Any]:
    row = st.db.one(
        "UPDATE devices SET status = 'retired', credential_version = credential_version + 1, updated_at = now()"
        " WHERE device_id = %s RETURNING device_id",
        (device_id,),
    )
    if row is None:
        raise Problem(404, Text("error.device.unknown", {"device": device_id}))
    audit(st.db, who.name, "device.retire", device_id)
    _registry_changed(st)
    return _detail(st, device_id)
