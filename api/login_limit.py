"""The login limiter: failed logins counted in PostgreSQL (``login_failures``), so that every API worker
and every API instance sees the same counts.

Three limits over one window (``CITYWATCH_API_LOGIN_RATE``, e.g. ``10/minute``):

- an account from one address: the rate (someone guessing a password, or mistyping it);
- an account from anywhere: :data:`PER_ACCOUNT` times the rate (guessing spread over many addresses);
- an address, whatever the accounts: :data:`PER_ADDRESS` times the rate (names sprayed from one machine).

A control room sits behind one address (its NAT): one person's mistyped password, or a script trying
names that do not exist, must not lock everyone there out, so the address's own limit is far above one
account's. Only failures count, and a successful login forgets its account's failures from its address.
A limited attempt is refused before its password is checked, even when it is right.
"""

from __future__ import annotations

from dataclasses import dataclass

from limits import parse

from api.db import Database
from api.problems import Problem
from citywatch.i18n import Text

PER_ACCOUNT = 5
PER_ADDRESS = 20


@dataclass(frozen=True, slots=True)
class Limited:
    scope: str  # "account from this address" | "account" | "address"
    wait_s: float  # until the next attempt is allowed


# (scope, how many times the rate, the rows it counts)
_SCOPES = (
    ("account from this address", 1, "account = %(account)s AND address = %(address)s"),
    ("account", PER_ACCOUNT, "account = %(account)s"),
    ("address", PER_ADDRESS, "address = %(address)s"),
)


class LoginLimiter:
    def __init__(self, rate: str, db: Database) -> None:
        item = parse(rate)
        self.limit, self.window_s, self.db = item.amount, float(item.get_expiry()), db

    def _params(self, username: str, address: str) -> dict[str, object]:
        return {"account": username.strip().lower(), "address": address, "window": self.window_s}

    def check(self, username: str, address: str) -> Limited | None:
        """None when ``username`` may try to log in from ``address`` now; else which limit holds it, and
        for how long (until enough of the failures that fill it are older than the window)."""
        p = self._params(username, address)
        counts = self.db.one(
            "SELECT count(*) FILTER (WHERE account = %(account)s AND address = %(address)s) AS pair,"
            " count(*) FILTER (WHERE account = %(account)s) AS account,"
            " count(*) FILTER (WHERE address = %(address)s) AS address"
            " FROM login_failures WHERE at > now() - make_interval(secs => %(window)s)"
            " AND (account = %(account)s OR address = %(address)s)",
            p,
        )
        assert counts is not None
        for (scope, times, where), n in zip(
            _SCOPES, (counts["pair"], counts["account"], counts["address"]), strict=True
        ):
            allowed = self.limit * times
            if n >= allowed:
                row = self.db.one(
                    "SELECT extract(epoch FROM at + make_interval(secs => %(window)s) - now()) AS wait"
                    f" FROM login_failures WHERE {where} AND at > now() - make_interval(secs => %(window)s)"
                    " ORDER BY at DESC OFFSET %(nth)s LIMIT 1",
                    {**p, "nth": allowed - 1},
                )
                return Limited(scope, max(1.0, float(row["wait"]) if row else self.window_s))
        return None

    def guard(self, username: str, address: str, what: str = "logins") -> None:
        """Refuse an attempt a limit holds: 429, saying which limit and for how long (``Retry-After``);
        ``what`` was tried too often: ``logins``, ``sign_ins`` (a bus's) or ``codes`` (pairing codes)."""
        if (limited := self.check(username, address)) is not None:
            raise Problem(
                429,
                Text(
                    f"error.limited.{what}",
                    {
                        "scope": Text(f"error.limited.scope.{limited.scope.replace(' ', '_')}"),
                        "seconds": limited.wait_s,
                    },
                ),
                headers={"Retry-After": str(int(limited.wait_s) + 1)},
            )

    def failed(self, username: str, address: str) -> None:
        """A failed login: counted; failures older than the window are forgotten."""
        p = self._params(username, address)
        with self.db.pool.connection() as conn, conn.transaction():
            conn.execute("INSERT INTO login_failures (account, address) VALUES (%(account)s, %(address)s)", p)
            conn.execute("DELETE FROM login_failures WHERE at < now() - make_interval(secs => %(window)s)", p)

    def succeeded(self, username: str, address: str) -> None:
        """A successful login: the account's failures from this address are forgiven."""
        self.db.one(
            "WITH gone AS (DELETE FROM login_failures WHERE account = %(account)s AND address = %(address)s"
            " RETURNING 1) SELECT count(*) FROM gone",
            self._params(username, address),
        )
