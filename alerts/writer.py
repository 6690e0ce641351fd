"""Where the events the rules emit become alerts: each applied under its rule's policy.

The analytics (and the boarding bell) decide *that* something is wrong and say so as events — a
:class:`~alerts.model.Raise` or a :class:`~alerts.model.Clear` for an alert key (``rule:subject``);
the writer decides what that does to the alert tables (open, count, raise the severity, re-open within
the rule's window, clear), through :func:`alerts.store.apply`, one transaction per event, its
notifications in the outbox — or, within :meth:`AlertWriter.batch` (a stretch of analytics work), held
and applied in order at the batch's checkpoints (the alerts they concern read in one go, the outbox's lock
taken once), one transaction per :data:`BATCH_EVENTS` events or :data:`BATCH_S`, pipelined.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any

import psycopg

from alerts import store
from alerts.config import AlertRules
from alerts.model import Alert, AlertEvent, Clear, Raise, Severity, involved
from citywatch.i18n import Text

#: a batch commits after this many events, or once its transaction is this old at the next event or
#: checkpoint: a commit per event cost a re-evaluation a third of its time, while a batch holds the outbox
#: lock (and its alerts' rows) that other writers, the operators' and the boarding bell's included, wait for
BATCH_EVENTS = 200
BATCH_S = 0.5
#: a batch's new alerts take their ids from the sequence this many at a time (those unused are skipped)
IDS = 32


class AlertWriter:
    """Applies events to the alert tables over ``conn()`` (the caller's connection, which it may
    replace after an error), each under the policy ``rules()`` gives its rule."""

    def __init__(self, conn: Callable[[], psycopg.Connection[Any]], rules: Callable[[], AlertRules]) -> None:
        self.conn = conn
        self.rules = rules
        self._batch: ExitStack | None = None  # the batch's transaction under way
        self._batched = 0  # events in the batch's transaction under way ...
        self._began = 0.0  # ... and when it began (monotonic)
        self._held: dict[str, Alert | None] = {}  # the alerts it read or wrote, by key, under their row locks
        self._pending: list[AlertEvent] = []  # the batch's events not yet applied
        self._outbox_locked = False  # the batch's transaction holds the outbox's lock
        self._windows: bool | None = None  # whether any maintenance window exists (asked once a transaction)
        self._ids: list[int] = []  # ids taken from the alerts' sequence for the batch's new alerts
        self.batch_s = BATCH_S

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Events applied within go in a transaction of up to :data:`BATCH_EVENTS` of them (anything
        else the caller writes on the connection meanwhile goes with them); an error rolls back the
        transaction under way, whose events the caller replays (from its saved state: replays of what
        did commit change nothing, :mod:`alerts.lifecycle`). Nested, the outer batch stands."""
        if self._batch is not None:
            yield
            return
        with self.conn().pipeline():  # what needs no answer goes without waiting for one
            self._begin()
            try:
                yield
                self._flush()
            except BaseException as e:
                self._pending = []  # the caller replays them
                if self._batch is not None:
                    self._batch.__exit__(type(e), e, e.__traceback__)
                raise
            else:
                if self._batch is not None:
                    self._batch.close()
            finally:
                self._batch = None

    def _begin(self) -> None:
        self._batch = ExitStack()
        self._batch.enter_context(self.conn().transaction())
        self._batched, self._began = 0, time.monotonic()
        self._held, self._windows, self._outbox_locked = {}, None, False

    def checkpoint(self) -> None:
        """Within a batch, apply the events held and commit if its transaction is ``batch_s``
        (:data:`BATCH_S`) old (a long stretch of work between events must not hold the outbox lock);
        elsewhere nothing."""
        if (
            self._batch is not None
            and (self._batched or self._pending)
            and time.monotonic() - self._began >= self.batch_s
        ):
            self._commit()

    def _commit(self) -> None:
        assert self._batch is not None
        self._flush()
        self._batch.close()
        self._begin()

    def apply(self, key: str, event: Raise | Clear, at: datetime) -> None:
        """One event for the alert ``key`` (``rule:subject``), at ``at``: within a batch, applied in order
        with the others at its next checkpoint (or when something reads the alerts through the writer), the
        alerts they concern read in one go."""
        if self._batch is None:
            self._apply(key, event, at)
            return
        self._pending.append((key, event, at))
        if self._batched + len(self._pending) >= BATCH_EVENTS:  # commit, and go on in a new transaction
            self._commit()

    def _flush(self) -> None:
        """Apply the batch's events held, having read the alerts they concern that the transaction does not
        hold yet in one go (:func:`alerts.store.load_many`)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        if unknown := sorted({key for key, _e, _at in pending} - self._held.keys()):
            self._held |= store.load_many(self.conn(), unknown)
        if not self._outbox_locked:  # taken once a transaction, just before its commit (no longer)
            with self.conn().cursor() as cur:
                store.lock_outbox(cur)
            self._outbox_locked = True
        for key, event, at in pending:
            self._apply(key, event, at)

    def _apply(self, key: str, event: Raise | Clear, at: datetime) -> None:
        policy = self.rules().policy_for(key.split(":", 1)[0])
        batched = self._batch is not None
        if batched and self._windows is None:  # a window opened meanwhile is seen by the next transaction
            row = self.conn().execute("SELECT EXISTS (SELECT 1 FROM maintenance)").fetchone()
            self._windows = bool(row and row[0])
        store.apply(
            self.conn(), event, at, key=key, policy=policy, own_transaction=not batched,
            held=self._held if batched else None, windows_exist=self._windows is not False,
            next_id=self._next_id if batched else None, outbox_locked=batched and self._outbox_locked,
        )  # fmt: skip
        if batched:
            self._batched += 1

    def _next_id(self) -> int:
        """A new alert's id: the alerts' sequence read :data:`IDS` at a time (one round trip for them)."""
        if not self._ids:
            rows = self.conn().execute(
                "SELECT nextval(pg_get_serial_sequence('alerts', 'id')) FROM generate_series(1, %s)", (IDS,)
            )
            self._ids = [int(i) for (i,) in rows.fetchall()][::-1]
        return self._ids.pop()

    def apply_all(self, events: Iterable[AlertEvent]) -> None:
        for key, event, at in events:
            self.apply(key, event, at)

    def live(self, rule: str) -> dict[str, Severity]:
        """The subjects with a live (not resolved) alert of ``rule``, and its severity."""
        self._flush()
        return {
            subject: Severity(severity)
            for subject, severity in self.conn()
            .execute("SELECT subject, severity FROM alerts WHERE rule = %s AND state <> 'resolved'", (rule,))
            .fetchall()
        }

    def reconcile(
        self,
        rule: str,
        wanted: Mapping[str, Raise],
        now: datetime,
        why_clear: str | Text,
        why: Mapping[str, str | Text] | None = None,
    ) -> None:
        """Raise ``rule`` for the subjects in ``wanted`` that have no live alert, or whose live alert is less
        severe than it has become (a capped sink that now fails); clear the live ones not wanted (saying
        ``why[subject]`` where given, else ``why_clear``)."""
        live = self.live(rule)
        for subject, event in wanted.items():
            if subject not in live or event.severity > live[subject]:
                self.apply(f"{rule}:{subject}", event, now)
        for subject in live.keys() - wanted.keys():
            self.apply(f"{rule}:{subject}", Clear((why or {}).get(subject, why_clear)), now)

    def involved_in_resolved(self, rule: str, since: datetime, until: datetime) -> set[str]:
        """The devices named by the alerts of ``rule`` resolved in (``since``, ``until``] (a zone outage's
        devices, say: read from the alerts, so a restart keeps them)."""
        self._flush()
        rows = (
            self.conn()
            .execute(
                "SELECT explanation->'details' FROM alerts WHERE rule = %s AND state = 'resolved'"
                " AND resolved_at > %s AND resolved_at <= %s",
                (rule, since, until),
            )
            .fetchall()
        )
        return {dev for (details,) in rows for dev in involved(details)}
