"""The API's database access: one connection pool, rows as dicts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

Params = Sequence[Any] | dict[str, Any] | None


class Database:
    def __init__(self, conninfo: str, max_size: int = 16) -> None:
        self.pool: ConnectionPool[Any] = ConnectionPool(
            conninfo,
            min_size=2,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=False,
            name="citywatch-api",
            # a connection is checked as it is handed out: after the database restarts, the pool's
            # stale connections are replaced there instead of failing one request each
            check=ConnectionPool.check_connection,
        )
        self.conninfo = conninfo

    def open(self) -> None:
        self.pool.open(wait=True, timeout=30)

    def close(self) -> None:
        self.pool.close()

    def all(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        with self.pool.connection() as conn:
            return conn.execute(sql, params).fetchall()  # type: ignore[no-any-return]

    def one(self, sql: str, params: Params = None) -> dict[str, Any] | None:
        with self.pool.connection() as conn:
            return conn.execute(sql, params).fetchone()  # type: ignore[no-any-return]
