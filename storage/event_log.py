"""The append-only event log on one database, and reading it back cleaned of secrets.

:class:`EventLog` is the half of :class:`~storage.store.SqlEventStore` that holds the log:
``append`` writes a batch of events, every projection derived from them and (on PostgreSQL)
a notification for tailers, in one transaction: the log and the projections never disagree
and a batch is stored whole or not at all. ``holds`` tells whether a batch whose commit lost
its answer went through; ``read`` parses the events back, each with its free text cleaned
(:func:`~engine.event_redaction.clean_event`): the bus cleans what a run emits, but a log stored
before it did, written by an older shopfloor or imported from one holds keys as they came.
Reads go through :meth:`EventLog._fetch`, which tries once more on a fresh connection when
the pooled one had died.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import false, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.event_codec import event_to_json
from engine.event_redaction import clean_event
from engine.events import EventBase
from engine.redaction import Redactor
from storage import migrate
from storage.errors import (
    DB_ERRORS,
    LOG_GONE_REMEDY,
    AlreadyStored,
    StorageError,
    events_table_missing,
    failure,
    one_line,
    read_failure,
    refusal,
    refused_for_good,
)
from storage.event_rows import insert_events
from storage.notify import EVENTS_CHANNEL, notify
from storage.paths import db_option
from storage.projector import parse_row, project
from storage.schema import PROJECTIONS, decisions
from storage.schema import events as events_table


def _is_duplicate(exc: IntegrityError) -> bool:
    """Whether ``exc`` is a unique-key violation (SQLite's error name, PostgreSQL's 23505)."""
    driver = exc.orig
    return (
        getattr(driver, "sqlite_errorname", None)
        in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")
        or getattr(driver, "sqlstate", None) == "23505"
    )


class EventLog:
    """The events of every run on one database, appended in batches with their projections
    and read back cleaned; :class:`~storage.store.SqlEventStore` opens it and adds the rest."""

    def __init__(
        self,
        engine: AsyncEngine,
        url: str,
        migrated: migrate.Upgrade | None = None,
        *,
        redactor: Redactor | None = None,
    ) -> None:
        """Wrap an engine whose schema is current; prefer :meth:`open`. ``redactor`` cleans
        what is read back (default: one for this process's secret-looking variables)."""
        self._engine = engine
        self.url = url
        self.migrated = migrated
        """What opening did to the schema (revision before and after), if it migrated."""
        self.redactor = redactor if redactor is not None else Redactor.from_environ()

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine (for maintenance code and tests)."""
        return self._engine

    # -- the log -----------------------------------------------------------------------------

    async def append(
        self, events: Sequence[EventBase], bodies: Sequence[str] | None = None
    ) -> None:
        """Store ``events`` and update every projection, in one transaction.

        The events must have been stamped by the bus (a run id and a sequence number);
        a sequence number already stored for the run is refused and nothing is written.
        On PostgreSQL the commit also wakes every process tailing these runs. ``bodies``
        are the events' JSON when the caller has it already (the writer process does).
        """
        if not events:
            return
        for ev in events:
            if not ev.run_id or ev.seq <= 0:
                raise StorageError(
                    f"cannot store an unstamped {type(ev).__name__} (no run id or sequence "
                    "number); emit it through the EventBus"
                )
        try:
            async with self._engine.begin() as conn:
                await insert_events(conn, events, bodies)
                await project(conn, events)
                await notify(conn, EVENTS_CHANNEL, {ev.run_id for ev in events})
        except IntegrityError as exc:
            if not _is_duplicate(exc):  # a CHECK constraint, a trigger: the database's words
                raise StorageError(f"cannot write events: {one_line(exc)}") from exc
            first, last = events[0], events[-1]
            raise AlreadyStored(
                f"refused a batch of {len(events)} events ({first.run_id} #{first.seq}..."
                f"{last.run_id} #{last.seq}): an event or run is already stored"
            ) from exc
        except DB_ERRORS as exc:
            raise failure(f"cannot write events: {one_line(exc)}", exc) from exc

    async def check_writes(self) -> None:
        """Raise :class:`~storage.errors.WritesRefused` (:class:`~storage.errors.LogGone`,
        :class:`~storage.errors.ProjectionGone`) now if the database would refuse a run's
        events: a run finds out before it does any work, not at its first batch. Writes
        nothing: an INSERT of no rows into the log and each projection, rolled back, which
        takes SQLite's write lock (refused on a read-only file) and PostgreSQL's INSERT
        privilege checks, and names a table that is gone. The decisions inbox, which the run
        reads and marks taken (others insert), gets an UPDATE of no rows: without it a run
        would wait for ever for an answer no one can post."""
        try:
            async with self._engine.connect() as conn:
                for table in (events_table, *PROJECTIONS):
                    nothing = select(table).where(false())
                    await conn.execute(insert(table).from_select(list(table.c), nothing))
                taken = update(decisions).where(false()).values(consumed_at=None)
                await conn.execute(taken)
                await conn.rollback()
        except DB_ERRORS as exc:
            said = f"cannot write events: {one_line(exc)}"
            if refused_for_good(exc):
                raise refusal(exc)(said) from exc
            raise failure(said, exc) from exc

    async def holds(self, events: Sequence[EventBase], bodies: Sequence[str] | None = None) -> bool:
        """Whether every event of ``events`` is stored, each exactly as it would be written:
        an append refused as :class:`AlreadyStored` after a commit whose answer was lost had
        in fact gone through."""
        if not events:
            return True
        if bodies is None:
            bodies = [event_to_json(ev) for ev in events]
        wanted: dict[str, dict[int, str]] = {}
        for ev, body in zip(events, bodies, strict=True):
            wanted.setdefault(ev.run_id, {})[ev.seq] = body
        for run_id, by_seq in wanted.items():
            query = select(events_table.c.seq, events_table.c.body).where(
                events_table.c.run_id == run_id, events_table.c.seq.in_(list(by_seq))
            )
            stored = await self._fetch(query, f"read events of run {run_id}")
            if {row.seq: row.body for row in stored} != by_seq:
                return False
        return True

    async def read(
        self,
        run_id: str,
        after_seq: int = 0,
        limit: int | None = None,
        *,
        types: Collection[str] | None = None,
    ) -> list[EventBase]:
        """The events of ``run_id`` with a sequence number above ``after_seq``, in order;
        only those of ``types`` (``"EscalationRaised"``, ...) when given.

        Each is parsed back into its concrete class (``RunStarted``, ``Merged``, ...), its
        free text cleaned of secrets.
        """
        query = (
            select(events_table.c.seq, events_table.c.body)
            .where(events_table.c.run_id == run_id, events_table.c.seq > after_seq)
            .order_by(events_table.c.seq)
        )
        if types is not None:
            query = query.where(events_table.c.type.in_(list(types)))
        if limit is not None:
            query = query.limit(limit)
        stored = await self._fetch(query, f"read events of run {run_id}")
        redactor = self.redactor
        return [clean_event(redactor, parse_row(run_id, row.seq, row.body)) for row in stored]

    async def count_events(self, run_id: str | None = None) -> int:
        """How many events are stored, for one run or in all."""
        query = select(func.count()).select_from(events_table)
        if run_id is not None:
            query = query.where(events_table.c.run_id == run_id)
        rows = await self._fetch(query, "count events")
        return int(rows[0][0])

    async def _fetch(self, query: Any, what: str) -> Sequence[Row[Any]]:
        """Run a read; once more on a fresh connection if the pooled one had died.

        A pooled connection the server dropped since its last use (a restart, an idle
        timeout, ``pg_terminate_backend``) fails at its first statement; SQLAlchemy then
        invalidates the pool, and the same read on a new connection is what the caller
        meant. A second failure is the database's answer.
        """
        for last in (False, True):
            try:
                async with self._engine.connect() as conn:
                    result = await conn.execute(query)
                    return result.all()
            except DB_ERRORS as exc:
                if not last and isinstance(exc, DBAPIError) and exc.connection_invalidated:
                    continue
                if events_table_missing(exc):  # `resume`, `status`: say what brings it back
                    raise StorageError(
                        f"cannot {what}: the database has no events table, so no run's log is "
                        f"in it; {LOG_GONE_REMEDY}, and use that"
                    ) from exc
                # a projection gone: says what to do, on this database
                raise read_failure(what, exc, db_option(self.url)) from exc
        raise AssertionError("unreachable")  # pragma: no cover
