"""Who answered an escalation, and when: what ``approve`` says when it is too late.

An escalation is answered once its EscalationResolved is logged (the ``escalations``
projection has its decision), and already before that once a decision waits in the inbox for
the run to take it. Both are told to a second person who tries to answer it, with the
decision, who gave it and when; :func:`find_escalations` lets the CLI tell which run an
escalation id belongs to and whether that run still takes answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.events import Outcome
from storage.errors import DB_ERRORS, failure, one_line, read_failure
from storage.records import EscalationRecord
from storage.schema import decisions, escalations, runs


def at_utc(when: datetime | None) -> str:
    """`` at 2025-03-01 12:00:00 UTC``, or nothing when ``when`` is unknown."""
    return f" at {when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if when is not None else ""


def logged_answer(record: EscalationRecord) -> str:
    """``accept by human:ann at …``: the decision the run logged for ``record``."""
    return f"{record.decision} by {record.decided_by}{at_utc(record.decided_at)}"


@dataclass(frozen=True)
class WaitingDecision:
    """A decision posted to the inbox that the run has not taken yet."""

    decision: str
    decided_by: str
    posted_at: datetime

    def __str__(self) -> str:
        when = at_utc(self.posted_at)
        return f"{self.decision} by {self.decided_by}{when}; the run has not taken it yet"


async def waiting_decision(
    conn: AsyncConnection, run_id: str, escalation_id: str
) -> WaitingDecision | None:
    """The decision waiting in the inbox for this escalation, if one is."""
    query = select(decisions.c.decision, decisions.c.decided_by, decisions.c.posted_at).where(
        decisions.c.run_id == run_id,
        decisions.c.escalation_id == escalation_id,
        decisions.c.consumed_at.is_(None),
    )
    row = (await conn.execute(query)).first()
    return WaitingDecision(row.decision, row.decided_by, row.posted_at) if row else None


async def waiting_decisions(
    engine: AsyncEngine, run_id: str | None
) -> dict[tuple[str, str], WaitingDecision]:
    """(run, escalation id) -> the decision waiting in the inbox for it, of one run or all:
    answered, and not taken by a run yet (a stopped run takes it when resumed)."""
    query = select(
        decisions.c.run_id,
        decisions.c.escalation_id,
        decisions.c.decision,
        decisions.c.decided_by,
        decisions.c.posted_at,
    ).where(decisions.c.consumed_at.is_(None))
    if run_id is not None:
        query = query.where(decisions.c.run_id == run_id)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
    except DB_ERRORS as exc:
        raise failure(f"cannot read the decisions inbox: {one_line(exc)}", exc) from exc
    return {
        (row.run_id, row.escalation_id): WaitingDecision(
            row.decision, row.decided_by, row.posted_at
        )
        for row in rows
    }


async def find_escalations(
    engine: AsyncEngine, escalation_id: str, run_id: str | None, db: str
) -> list[tuple[EscalationRecord, Outcome]]:
    """Every escalation with this id, open or answered, of one run or of every run, with how
    its run stands (oldest first): what ``approve`` looks at before it posts. ``db``: the
    database's ``--db`` (:func:`storage.paths.db_option`), for the command a failure names."""
    query = (
        select(escalations, runs.c.outcome.label("run_outcome"))
        .join(runs, runs.c.run_id == escalations.c.run_id, isouter=True)
        .where(escalations.c.escalation_id == escalation_id)
        .order_by(escalations.c.raised_at, escalations.c.run_id)
    )
    if run_id is not None:
        query = query.where(escalations.c.run_id == run_id)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
    except DB_ERRORS as exc:
        raise read_failure(f"look up escalation {escalation_id!r}", exc, db) from exc
    return [
        (EscalationRecord.from_row(row), Outcome(row._mapping["run_outcome"] or Outcome.RUNNING))
        for row in rows
    ]
