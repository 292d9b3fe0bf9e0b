"""The durable event store: SQLAlchemy 2 async over SQLite (default) or PostgreSQL.

:class:`SqlEventStore` implements the engine's ``EventStore`` and ``DecisionSource``
protocols; the URL alone picks the backend, and both pass one conformance suite. Opening a
store migrates its schema to the head revision. Appending to the log and reading it back are
:class:`~storage.event_log.EventLog`'s; this module holds the rest, which serves the CLI and
other processes: run listing and short ids, tailing a run as it is written, the decisions
inbox, rebuilding projections and pruning (export/import: :mod:`storage.transfer`).

Everything read back is cleaned of secrets on the way out, the events' free text
(:func:`~engine.event_redaction.clean_event`) and the projections' columns copied from it
(:func:`~storage.records.cleaned`): the bus cleans what a run emits, but a log stored before
it did, written by an older shopfloor or imported from one holds keys as they came, and
every reader — ``status``, ``escalations``, ``export``, ``runs``, the TUI, a resume, the
lessons a later run's models are told — reads through here. Nothing is rewritten in the
database; cleaning an event that holds no secret costs a dictionary look-up, or one scan of
its text.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, inspect, select

from engine.events import EventBase, Outcome
from engine.protocols import ExternalDecision
from engine.redaction import Redactor
from storage import answers, inbox, migrate
from storage.connect import make_engine, why_not_opened
from storage.errors import (
    DB_ERRORS,
    AmbiguousRunId,
    RunNotFound,
    StorageError,
    failure,
    one_line,
)
from storage.event_log import EventLog
from storage.notify import DEFAULT_POLL_S
from storage.paths import db_option, normalize_db_url, parse_db_url, safe_url
from storage.pg_cert_refusal import refused_certificate
from storage.projector import rebuild
from storage.rebuild_aside import rebuild_aside
from storage.records import (
    EscalationRecord,
    LearningRecord,
    R,
    RunRecord,
    TaskRecord,
    cleaned,
)
from storage.schema import PROJECTIONS, REMADE, decisions, escalations, learnings, runs, tasks
from storage.schema import events as events_table
from storage.tail import tail_run

if TYPE_CHECKING:
    from engine.protocols import DecisionSource, EventStore

__all__ = ["RunRecord", "SqlEventStore"]

_AMBIGUOUS_SHOWN = 5
CLOSE_WAIT_S = 2.0
"""How long :meth:`SqlEventStore.close` waits for connections still checked out to come
back (a cancelled query unwinding) before it closes them."""


class SqlEventStore(EventLog):
    """Append-only event log plus its projections and the decisions inbox, on one database.

    Open with ``await SqlEventStore.open(url)``; close with ``await store.close()`` (or use
    ``async with``). All failures surface as :class:`~storage.errors.StorageError`.
    """

    @classmethod
    async def open(cls, url: str, *, redactor: Redactor | None = None) -> SqlEventStore:
        """Connect to ``url`` (a URL or a SQLite file path) and migrate its schema to head.

        A database written by a newer shopfloor is refused
        (:class:`~storage.migrate.NewerSchemaError`). Crossing the revision that added the
        tasks/escalations/learnings projections rebuilds them from the log. ``redactor``
        cleans what is read back (the default: one for this process's environment).
        """
        url = normalize_db_url(url)
        engine = make_engine(url)
        try:
            done = await migrate.upgrade(engine, safe_url(url))
            if done.before == migrate.LEGACY_REVISION:
                async with engine.begin() as conn:
                    await rebuild(conn)
        except StorageError:
            await engine.dispose()
            raise
        except DB_ERRORS as exc:
            await engine.dispose()
            refused = await refused_certificate(parse_db_url(url), exc)
            if refused is not None:
                raise StorageError(f"cannot open database {safe_url(url)}: {refused}") from exc
            raise failure(why_not_opened(url, exc), exc) from exc
        return cls(engine, url, done, redactor=redactor)

    # -- following the log (appending and reading it: EventLog) ------------------------------

    def tail(
        self,
        run_id: str,
        after_seq: int = 0,
        *,
        follow: bool = False,
        poll_s: float = DEFAULT_POLL_S,
    ) -> AsyncIterator[EventBase]:
        """Events of ``run_id`` after ``after_seq`` as they are committed, by any process.

        Ends after RunFinished unless ``follow``; waits for a run that has not started yet.
        PostgreSQL wakes on LISTEN/NOTIFY; SQLite polls every ``poll_s`` seconds. Close it
        early with ``contextlib.aclosing`` to release its listening connection at once.
        """
        return tail_run(self, run_id, after_seq, follow=follow, poll_s=poll_s)

    # -- projections -------------------------------------------------------------------------

    async def list_runs(
        self,
        limit: int = 100,
        *,
        repo: str | None = None,
        outcome: Outcome | None = None,
        since: datetime | None = None,
    ) -> list[RunRecord]:
        """Up to ``limit`` runs, newest first, optionally only those on ``repo`` (the path, or
        its last components), ending with ``outcome`` or started at or after ``since``."""
        query = select(runs)
        if repo is not None:
            wanted = repo.rstrip("/") or "/"
            query = query.where(
                (runs.c.repo == wanted) | runs.c.repo.endswith("/" + wanted, autoescape=True)
            )
        if outcome is not None:
            query = query.where(runs.c.outcome == outcome.value)
        if since is not None:
            query = query.where(runs.c.created_at >= since)
        query = query.order_by(runs.c.created_at.desc(), runs.c.run_id.desc()).limit(limit)
        rows = await self._fetch(query, "list runs")
        return [self._clean(RunRecord.from_row(row)) for row in rows]

    async def get_run(self, run_id: str) -> RunRecord | None:
        """The run with exactly this id, or None."""
        query = select(runs).where(runs.c.run_id == run_id)
        rows = await self._fetch(query, f"read run {run_id}")
        return self._clean(RunRecord.from_row(rows[0])) if rows else None

    async def tasks(self, run_id: str) -> list[TaskRecord]:
        """The ``tasks`` projection of a run, by task id."""
        query = select(tasks).where(tasks.c.run_id == run_id).order_by(tasks.c.task_id)
        rows = await self._fetch(query, f"read tasks of {run_id}")
        return [self._clean(TaskRecord.from_row(r)) for r in rows]

    async def escalations(self, run_id: str) -> list[EscalationRecord]:
        """Every escalation of a run, open or decided, in the order raised."""
        query = (
            select(escalations)
            .where(escalations.c.run_id == run_id)
            .order_by(escalations.c.raised_seq)
        )
        rows = await self._fetch(query, f"read escalations of {run_id}")
        return [self._clean(EscalationRecord.from_row(r)) for r in rows]

    async def learnings(self, run_id: str | None = None) -> list[LearningRecord]:
        """Learnings of one run, or of all runs, oldest first."""
        query = select(learnings).order_by(
            learnings.c.recorded_at, learnings.c.run_id, learnings.c.learning_id
        )
        if run_id is not None:
            query = query.where(learnings.c.run_id == run_id)
        rows = await self._fetch(query, "read learnings")
        return [self._clean(LearningRecord.from_row(r)) for r in rows]

    async def projection_rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every projection table's rows, sorted: what a rebuild must reproduce exactly."""
        snapshot: dict[str, list[tuple[Any, ...]]] = {}
        for table in PROJECTIONS:
            rows = await self._fetch(select(table), f"read {table.name}")
            snapshot[table.name] = sorted((tuple(r) for r in rows), key=repr)
        return snapshot

    async def missing_tables(self) -> list[str]:
        """The projection tables and the decisions inbox the database lacks (dropped): a
        rebuild makes them again (:data:`~storage.schema.REMADE`)."""
        try:
            async with self._engine.connect() as conn:
                there = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        except DB_ERRORS as exc:
            raise failure(f"cannot list the tables: {one_line(exc)}", exc) from exc
        return [table.name for table in REMADE if table.name not in there]

    async def rebuild_projections(self) -> int:
        """Recompute every projection from the log; returns the runs replayed. The log is
        replayed aside, with runs appending meanwhile; the live projections are replaced in
        one short transaction at the end (:mod:`storage.rebuild_aside`)."""
        try:
            return await rebuild_aside(self._engine)
        except StorageError:
            raise
        except DB_ERRORS as exc:
            raise StorageError(f"cannot rebuild projections: {one_line(exc)}") from exc

    async def resolve_run_id(self, prefix: str) -> str:
        """The full id of the one run whose id is ``prefix`` or starts with it.

        An exact match wins even when longer ids share the prefix. Raises
        :class:`~storage.errors.RunNotFound` when nothing matches and
        :class:`~storage.errors.AmbiguousRunId` when several runs do.
        """
        wanted = prefix.strip()
        if not wanted:
            raise RunNotFound("no run id given")
        query = (
            select(runs.c.run_id)
            .where(runs.c.run_id.startswith(wanted, autoescape=True))
            .order_by(runs.c.run_id)
            .limit(_AMBIGUOUS_SHOWN + 1)
        )
        matches = tuple(str(row[0]) for row in await self._fetch(query, f"resolve run {wanted}"))
        if wanted in matches:
            return wanted
        if not matches:
            raise RunNotFound(f"no run matches {wanted!r}")
        if len(matches) == 1:
            return matches[0]
        shown = ", ".join(matches[:_AMBIGUOUS_SHOWN])
        more = ", ..." if len(matches) > _AMBIGUOUS_SHOWN else ""
        raise AmbiguousRunId(
            f"run id {wanted!r} is ambiguous: matches {shown}{more}; type more characters",
            matches,
        )

    # -- the decisions inbox -----------------------------------------------------------------

    async def post_decision(
        self, run_id: str, escalation_id: str, decision: str, decided_by: str, note: str = ""
    ) -> None:
        """Post a decision on an open escalation for the run's engine to take (one-line
        StorageError if the escalation is unknown, decided, or ``decision`` is no option).

        The note is a person's words and is stored cleaned (:meth:`posted_note`), as the run
        logs it: the decisions table is read by everyone sharing the database."""
        await inbox.post_decision(
            self._engine,
            run_id,
            escalation_id,
            decision,
            decided_by,
            self.posted_note(note),
            db=db_option(self.url),
        )

    def posted_note(self, note: str) -> str:
        """``note`` as :meth:`post_decision` stores it and the run logs it: cleaned of
        secrets (a key pasted into "use the staging key ..."). What a poster compares the
        logged answer with to know the run took its own."""
        return self.redactor.redact(note)

    def decisions(
        self,
        run_id: str,
        *,
        until_asked: Callable[[], Awaitable[object]] | None = None,
        poll_s: float = 0.2,
    ) -> AsyncIterator[ExternalDecision]:
        """Decisions posted for ``run_id``, each yielded once and marked consumed; never ends.
        Nothing is read before each ``until_asked()`` returns (an escalation is open)."""
        return inbox.decision_stream(self._engine, run_id, until_asked=until_asked, poll_s=poll_s)

    async def open_escalations(self, run_id: str | None = None) -> list[EscalationRecord]:
        """Undecided escalations of ``run_id``, or of every run when None, oldest first; a
        run that has ended has none (nothing would take the answer)."""
        return [
            self._clean(r)
            for r in await inbox.open_escalations(self._engine, run_id, db_option(self.url))
        ]

    async def waiting_decisions(
        self, run_id: str | None = None
    ) -> dict[tuple[str, str], answers.WaitingDecision]:
        """(run, escalation id) -> the answer posted for it that no run has taken yet."""
        return await answers.waiting_decisions(self._engine, run_id)

    async def find_escalations(
        self, escalation_id: str, run_id: str | None = None
    ) -> list[tuple[EscalationRecord, Outcome]]:
        """Every escalation with this id (of ``run_id``, or of every run), open or answered,
        each with its run's outcome, oldest first."""
        found = await answers.find_escalations(
            self._engine, escalation_id, run_id, db_option(self.url)
        )
        return [(self._clean(record), outcome) for record, outcome in found]

    # -- retention ---------------------------------------------------------------------------

    async def prune(self, older_than: timedelta, now: datetime | None = None) -> list[str]:
        """Delete every run that finished more than ``older_than`` ago — its events, its
        projection rows and its decisions — in one transaction. Running runs are never
        touched. Returns the ids deleted."""
        cutoff = (now or datetime.now(UTC)) - older_than
        query = select(runs.c.run_id).where(
            runs.c.outcome != Outcome.RUNNING.value,
            runs.c.finished_at.is_not(None),
            runs.c.finished_at < cutoff,
        )
        try:
            async with self._engine.begin() as conn:
                doomed = [str(r) for r in (await conn.execute(query)).scalars().all()]
                for table in (events_table, tasks, escalations, learnings, decisions, runs):
                    for start in range(0, len(doomed), 500):
                        chunk = doomed[start : start + 500]
                        await conn.execute(delete(table).where(table.c.run_id.in_(chunk)))
        except DB_ERRORS as exc:
            raise StorageError(f"cannot prune runs: {one_line(exc)}") from exc
        return sorted(doomed)

    # -- lifecycle ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Close every pooled connection. The store is unusable afterwards.

        A query cancelled just before (a view's worker, cancelled as the app quits) still
        holds its connection while it unwinds: first the connections checked out are given a
        moment to come back (:data:`CLOSE_WAIT_S` at most). Closed under it, the cancelled
        query's cleanup awaited an answer from a connection that was gone, for ever, and so
        did the event loop's close (``shopfloor attach`` quitting; a TUI test's teardown).
        """
        pool = self._engine.pool
        checked_out = getattr(pool, "checkedout", None)
        if callable(checked_out):
            loop = asyncio.get_running_loop()
            deadline = loop.time() + CLOSE_WAIT_S
            while checked_out() and loop.time() < deadline:  # noqa: ASYNC110 (the pool has nothing to await)
                await asyncio.sleep(0.005)
        await self._engine.dispose()

    async def __aenter__(self) -> SqlEventStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _clean(self, record: R) -> R:
        """A projection's record with the secrets in its free text replaced."""
        return cleaned(record, self.redactor.redact)


if TYPE_CHECKING:
    # SqlEventStore is the engine's EventStore and DecisionSource; mypy checks it here.
    _conforms: type[EventStore] = SqlEventStore
    _decides: type[DecisionSource] = SqlEventStore
