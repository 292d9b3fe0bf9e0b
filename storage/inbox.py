"""The decisions inbox: answers to a run's escalations, posted from any process.

A person approving from another shell, another host or the TUI of an attached session posts a
decision with :func:`post_decision`; the run's engine takes them from :func:`decisions` (the
storage side of the engine's ``DecisionSource``) and logs ``EscalationResolved`` itself, so a
run's event log keeps exactly one writer. Posting checks what a person can get wrong — no such
escalation, already answered (logged, or waiting in the inbox: :mod:`storage.answers`), a run
that has ended, not one of its options — and answers in one line. A partial unique index allows
one waiting decision per escalation, so two people racing get one winner and one refusal that
names the winner. Taking a decision marks it consumed in the same transaction that reads it, so two
consumers never both act on it; a decision whose escalation was meanwhile resolved is consumed
and dropped.

A decision is consumed before the run logs its ``EscalationResolved``; a run killed in between
would lose it, and the person who approved would see the resumed run ask again. So the process
that takes the run over (one at a time: :mod:`storage.lease`) is handed, before anything new,
the decisions consumed earlier whose escalation is still open in the log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.events import Outcome
from engine.protocols import ExternalDecision
from storage.answers import logged_answer, waiting_decision
from storage.errors import DB_ERRORS, StorageError, failure, one_line, read_failure
from storage.notify import DECISIONS_CHANNEL, DEFAULT_POLL_S, Wakeup, notify
from storage.reconnect import Reconnecting
from storage.records import EscalationRecord
from storage.schema import decisions, escalations, runs


async def post_decision(
    engine: AsyncEngine,
    run_id: str,
    escalation_id: str,
    decision: str,
    decided_by: str,
    note: str = "",
    *,
    db: str = "",
) -> None:
    """Leave ``decision`` for the run to take. Raises a one-line StorageError when the
    escalation does not exist, is already answered (logged, or a decision waiting), belongs
    to a run that has ended, or when ``decision`` is not one of its options (``db``: the
    database's ``--db``, for the rebuild a table that is gone names)."""
    if not decided_by.strip():
        raise StorageError("a decision needs a decider, e.g. human:alice")
    what = f"escalation {escalation_id!r} of run {run_id}"
    query = (
        select(escalations, runs.c.outcome.label("run_outcome"))
        .join(runs, runs.c.run_id == escalations.c.run_id, isouter=True)
        .where(escalations.c.run_id == run_id, escalations.c.escalation_id == escalation_id)
    )
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(of=escalations)
            row = (await conn.execute(query)).first()
            if row is None:
                raise StorageError(f"no {what}")
            found = EscalationRecord.from_row(row)
            if not found.is_open:
                raise StorageError(f"{what} was already answered: {logged_answer(found)}")
            # Before a decision waiting in the inbox: a run that ended (abandoned, say)
            # will never take that one.
            ended = row._mapping["run_outcome"]
            if ended is not None and ended != Outcome.RUNNING.value:
                raise StorageError(f"run {run_id} has ended ({ended}); {what} takes no answer")
            waiting = await waiting_decision(conn, run_id, escalation_id)
            if waiting is not None:
                raise StorageError(f"{what} was already answered: {waiting}")
            if found.options and decision not in found.options:
                raise StorageError(
                    f"{decision!r} is not an option of {what}; "
                    f"choose one of: {', '.join(found.options)}"
                )
            await conn.execute(
                insert(decisions).values(
                    run_id=run_id,
                    escalation_id=escalation_id,
                    decision=decision,
                    decided_by=decided_by,
                    note=note,
                    posted_at=datetime.now(UTC),
                    consumed_at=None,
                )
            )
            await notify(conn, DECISIONS_CHANNEL, [run_id])
    except IntegrityError as exc:  # another poster won between our look and our insert
        try:
            async with engine.connect() as conn:
                waiting = await waiting_decision(conn, run_id, escalation_id)
        except DB_ERRORS:
            waiting = None
        winner = waiting or "another decision waits for the run to take it"
        raise StorageError(f"{what} was already answered: {winner}") from exc
    except DB_ERRORS as exc:
        raise read_failure(f"post a decision for {what}", exc, db) from exc


async def untaken_decisions(engine: AsyncEngine, run_id: str) -> list[ExternalDecision]:
    """Decisions of ``run_id`` consumed by an earlier process that did not live to log
    them: their escalation is still open. The newest per escalation, oldest first."""
    orphans = (
        select(decisions)
        .join(
            escalations,
            (escalations.c.run_id == decisions.c.run_id)
            & (escalations.c.escalation_id == decisions.c.escalation_id),
        )
        .where(
            decisions.c.run_id == run_id,
            decisions.c.consumed_at.is_not(None),
            escalations.c.decision.is_(None),
        )
        .order_by(decisions.c.id)
    )
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(orphans)).all()
    except DB_ERRORS as exc:
        raise failure(f"cannot read decisions of run {run_id}: {one_line(exc)}", exc) from exc
    newest = {row.escalation_id: row for row in rows}  # a later answer replaces an earlier one
    return [
        ExternalDecision(
            escalation_id=row.escalation_id,
            decision=row.decision,
            decided_by=row.decided_by,
            note=row.note,
        )
        for row in sorted(newest.values(), key=lambda row: row.id)
    ]


async def take_decisions(engine: AsyncEngine, run_id: str) -> list[ExternalDecision]:
    """Claim every waiting decision of ``run_id`` (oldest first), marking them consumed."""
    pending = (
        select(decisions, escalations.c.decision.label("logged"))
        .join(
            escalations,
            (escalations.c.run_id == decisions.c.run_id)
            & (escalations.c.escalation_id == decisions.c.escalation_id),
            isouter=True,
        )
        .where(decisions.c.run_id == run_id, decisions.c.consumed_at.is_(None))
        .order_by(decisions.c.id)
    )
    taken: list[ExternalDecision] = []
    try:
        async with engine.begin() as conn:
            for row in (await conn.execute(pending)).all():
                m = row._mapping
                claimed = await conn.execute(
                    update(decisions)
                    .where(decisions.c.id == m["id"], decisions.c.consumed_at.is_(None))
                    .values(consumed_at=datetime.now(UTC))
                )
                if claimed.rowcount != 1 or m["logged"] is not None:
                    continue  # another consumer took it, or the run already resolved it
                taken.append(
                    ExternalDecision(
                        escalation_id=m["escalation_id"],
                        decision=m["decision"],
                        decided_by=m["decided_by"],
                        note=m["note"],
                    )
                )
    except DB_ERRORS as exc:
        raise failure(f"cannot read decisions of run {run_id}: {one_line(exc)}", exc) from exc
    return taken


async def decision_stream(
    engine: AsyncEngine,
    run_id: str,
    *,
    until_asked: Callable[[], Awaitable[object]] | None = None,
    poll_s: float = DEFAULT_POLL_S,
) -> AsyncIterator[ExternalDecision]:
    """Decisions for ``run_id`` as they are posted (LISTEN/NOTIFY or polling); never ends.

    Before each read it awaits ``until_asked()`` when given: the run's engine says so when
    an escalation is open, and none can be answered before. A run asking nobody reads
    nothing (the inbox polled for the whole run was 2 s of CPU in a 90 s demo on SQLite).

    Not even when the database fails: a run waits on this for hours, and a stream that
    ended on a dropped connection left it waiting for an answer already posted. Failures
    are logged once per outage and tried again (:class:`~storage.reconnect.Reconnecting`).

    It starts with the :func:`untaken_decisions` of a process that drove the run before
    (the caller holds the run's lease, so that process is gone). The engine drops any of
    them whose escalation its own log shows answered.
    """
    retry = Reconnecting(f"the decisions inbox of run {run_id}")
    resumed = False
    while True:
        try:
            async with Wakeup(engine, DECISIONS_CHANNEL, run_id, poll_s=poll_s) as wakeup:
                while True:
                    if until_asked is not None:
                        await until_asked()
                    if not resumed:
                        for decision in await untaken_decisions(engine, run_id):
                            yield decision
                        resumed = True
                    taken = await take_decisions(engine, run_id)
                    retry.ok()
                    for decision in taken:
                        yield decision
                    await wakeup.wait()
        except StorageError as exc:
            await retry.failed(exc)
        except DB_ERRORS as exc:  # listening could not start
            await retry.failed(
                StorageError(f"cannot listen for decisions of run {run_id}: {one_line(exc)}")
            )


async def open_escalations(
    engine: AsyncEngine, run_id: str | None, db: str
) -> list[EscalationRecord]:
    """Undecided escalations of one run (or of every run) that has not ended, oldest first
    (``db``: the database's ``--db``, for the command a failure names).

    A run that ended while an escalation was open (a gate killed it, another task failed it)
    never takes an answer: its question no longer waits for anyone.
    """
    query = (
        select(escalations)
        .join(runs, runs.c.run_id == escalations.c.run_id, isouter=True)
        .where(
            escalations.c.decision.is_(None),
            runs.c.outcome.is_(None) | (runs.c.outcome == Outcome.RUNNING.value),
        )
        .order_by(escalations.c.raised_at, escalations.c.run_id, escalations.c.raised_seq)
    )
    if run_id is not None:
        query = query.where(escalations.c.run_id == run_id)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
    except DB_ERRORS as exc:
        raise read_failure("list escalations", exc, db) from exc
    return [EscalationRecord.from_row(row) for row in rows]
