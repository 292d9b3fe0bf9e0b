"""Keeping the projections in step with the log, inside the append's own transaction.

:func:`project` takes a batch of events, already inserted into ``events`` on the same
connection, and brings ``runs``, ``tasks``, ``escalations`` and ``learnings`` up to date. It
first folds the batch in memory into the final value of every row it touches, then writes
each touched row once, one ``executemany`` per kind of change: a batch costs a handful of
statements however many events it holds. That matters because the writer shares the engine's
event loop and every statement is a round trip to the driver's thread; one statement per
event made the cost per event grow with the load. Since it is the same transaction, a reader
never sees an event without its projection or the reverse. :func:`rebuild` throws the
projections away and replays the whole log through the same code, which is what
``shopfloor db rebuild`` does and what a test compares with the live tables.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Integer, Table, and_, bindparam, case, delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Delete, Insert, Update

from engine.event_codec import event_from_json
from engine.events import (
    BlueprintProposed,
    EscalationRaised,
    EscalationResolved,
    EventBase,
    LearningRecorded,
    TaskState,
    TaskStateChanged,
)
from storage.errors import StorageError
from storage.event_rows import driver_sql
from storage.projection import fold_batch
from storage.schema import PROJECTIONS, escalations, events, learnings, runs, tasks

REBUILD_PAGE = 2000

_LEARNING_COLUMNS = ("kind", "text", "source", "tags", "recorded_at")
_ESCALATION_KEYS = ("run_id", "escalation_id")

# -- statements, built once; each runs as one executemany over bound parameters -------------

_TASK_STATE: Update = (
    update(tasks)
    .where(tasks.c.run_id == bindparam("k_run"), tasks.c.task_id == bindparam("k_task"))
    .values(
        state=bindparam("v_state"),
        reason=bindparam("v_reason"),
        # A late event with a lower attempt never lowers the count.
        attempts=case(
            (tasks.c.attempts > bindparam("v_attempt", type_=Integer), tasks.c.attempts),
            else_=bindparam("v_attempt", type_=Integer),
        ),
    )
)
_TASK_DELETE: Delete = delete(tasks).where(
    tasks.c.run_id == bindparam("k_run"), tasks.c.task_id == bindparam("k_task")
)
_RESOLVE: Update = (
    update(escalations)
    .where(
        escalations.c.run_id == bindparam("k_run"),
        escalations.c.escalation_id == bindparam("k_escalation"),
    )
    .values(
        decision=bindparam("v_decision"),
        decided_by=bindparam("v_decided_by"),
        note=bindparam("v_note"),
        decided_at=bindparam("v_decided_at", type_=escalations.c.decided_at.type),
    )
)


def _upsert(dialect_name: str, table: Table, update_columns: Sequence[str]) -> Insert:
    """INSERT that updates ``update_columns`` of an existing row with the same primary key."""
    # The backend's own INSERT, for its ON CONFLICT, from the dialect the connection already
    # runs on. Both dialects imported at the top loaded PostgreSQL's (~20 ms) on SQLite.
    backend = "postgresql" if dialect_name == "postgresql" else "sqlite"
    stmt = importlib.import_module(f"sqlalchemy.dialects.{backend}").insert(table)
    keys = [c.name for c in table.primary_key.columns]
    upsert: Insert = stmt.on_conflict_do_update(
        index_elements=keys, set_={name: stmt.excluded[name] for name in update_columns}
    )
    return upsert


_UPSERTS: dict[tuple[str, str, tuple[str, ...]], Insert] = {}


def _upsert_for(conn: AsyncConnection, table: Table, update_columns: Sequence[str]) -> Insert:
    key = (conn.dialect.name, table.name, tuple(update_columns))
    stmt = _UPSERTS.get(key)
    if stmt is None:
        stmt = _UPSERTS[key] = _upsert(conn.dialect.name, table, update_columns)
    return stmt


async def _many(conn: AsyncConnection, stmt: Any, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(stmt, list(rows))


async def _many_plain(conn: AsyncConnection, stmt: Any, rows: Sequence[dict[str, Any]]) -> None:
    """:func:`_many` handed straight to the driver, for rows of plain ``str``/``int`` values.

    Core's executemany turns every row's dict into driver parameters through the bind
    processors; for the task-state updates of a busy run (one row per task touched in a
    batch) that was most of the statement's cost. Their values need no processing, so the
    statement is compiled once per dialect and each row becomes the positional tuple the
    driver takes, as the events' INSERT does (:mod:`storage.event_rows`).
    """
    if not rows:
        return
    sql, names = driver_sql(stmt, conn.dialect)
    if not names:
        raise RuntimeError(f"{conn.dialect.name} compiled no positional parameters: {sql}")
    pick = itemgetter(*names)
    params = [pick(row) for row in rows] if len(names) > 1 else [(pick(row),) for row in rows]
    await conn.exec_driver_sql(sql, params)


# -- the fold -------------------------------------------------------------------------------


@dataclass
class _Pending:
    """What a batch does to tasks, escalations and learnings, one entry per touched row.

    Task states are folded until a blueprint for their run arrives (which may delete or
    create rows) and flushed before it, so the order of effects is the log's order.
    """

    task_states: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    raised: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    resolved: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    learnings: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def task_state(self, event: TaskStateChanged) -> None:
        key = (event.run_id, event.task_id)
        row = self.task_states.get(key)
        attempt = event.attempt if row is None else max(row["v_attempt"], event.attempt)
        self.task_states[key] = {
            "k_run": event.run_id,
            "k_task": event.task_id,
            "v_state": event.state._value_,  # not .value: two Python frames (enum property)
            "v_reason": event.reason,
            "v_attempt": attempt,
        }

    def raise_(self, event: EscalationRaised) -> None:
        key = (event.run_id, event.escalation_id)
        # Raised again (same id): a fresh, open question, as RunState sees it.
        self.resolved.pop(key, None)
        self.raised[key] = {
            "run_id": event.run_id,
            "escalation_id": event.escalation_id,
            "kind": event.kind,
            "question": event.question,
            "options": json.dumps(list(event.options)),
            "task_id": event.task_id,
            "default": event.default,
            "decision": None,
            "decided_by": None,
            "note": "",
            "raised_at": event.ts,
            "decided_at": None,
            "raised_seq": event.seq,
        }

    def resolve(self, event: EscalationResolved) -> None:
        key = (event.run_id, event.escalation_id)
        values = {
            "decision": event.decision,
            "decided_by": event.decided_by,
            "note": event.note,
            "decided_at": event.ts,
        }
        row = self.raised.get(key)
        if row is not None:  # raised in this batch: resolve the row before it is written
            row.update(values)
            return
        self.resolved[key] = {
            "k_run": event.run_id,
            "k_escalation": event.escalation_id,
            **{f"v_{name}": value for name, value in values.items()},
        }

    def learning(self, event: LearningRecorded) -> None:
        self.learnings[(event.run_id, event.learning_id)] = {
            "run_id": event.run_id,
            "learning_id": event.learning_id,
            "kind": event.kind,
            "text": event.text,
            "source": event.source,
            "tags": json.dumps(list(event.tags)),
            "recorded_at": event.ts,
        }

    async def flush_task_states(self, conn: AsyncConnection) -> None:
        await _many_plain(conn, _TASK_STATE, list(self.task_states.values()))
        self.task_states.clear()

    async def flush(self, conn: AsyncConnection) -> None:
        await self.flush_task_states(conn)
        await _many(
            conn,
            _upsert_for(
                conn, escalations, [c.name for c in escalations.c if c.name not in _ESCALATION_KEYS]
            ),
            list(self.raised.values()),
        )
        await _many(conn, _RESOLVE, list(self.resolved.values()))
        await _many(
            conn, _upsert_for(conn, learnings, _LEARNING_COLUMNS), list(self.learnings.values())
        )


async def _project_runs(conn: AsyncConnection, batch: Sequence[EventBase]) -> None:
    deltas = fold_batch(batch)
    started = [d.started for d in deltas if d.started is not None]
    if started:
        await conn.execute(insert(runs), started)
    for delta in deltas:
        values = delta.update_values()
        if delta.merged:
            values["tasks_merged"] = runs.c.tasks_merged + delta.merged
        await conn.execute(update(runs).where(runs.c.run_id == delta.run_id).values(**values))


async def _blueprint(conn: AsyncConnection, event: BlueprintProposed) -> None:
    # Like RunState: tasks of the new revision keep their progress, dropped tasks go.
    titles = {task.id: task.title for task in event.blueprint.tasks}
    stored = await conn.execute(select(tasks.c.task_id).where(tasks.c.run_id == event.run_id))
    dropped = [
        {"k_run": event.run_id, "k_task": task_id}
        for task_id in stored.scalars()
        if task_id not in titles
    ]
    await _many(conn, _TASK_DELETE, dropped)
    rows = [
        {
            "run_id": event.run_id,
            "task_id": task_id,
            "title": title,
            "state": TaskState.PENDING.value,
            "attempts": 0,
            "reason": "",
        }
        for task_id, title in titles.items()
    ]
    await _many(conn, _upsert_for(conn, tasks, ["title"]), rows)


_OTHER_KINDS = frozenset(
    {BlueprintProposed, EscalationRaised, EscalationResolved, LearningRecorded}
)
"""The rarer events :func:`project` acts on (TaskStateChanged is tested for first)."""


async def project(conn: AsyncConnection, batch: Sequence[EventBase]) -> None:
    """Apply ``batch`` (in log order) to every projection, on ``conn``'s transaction."""
    await _project_runs(conn, batch)
    pending = _Pending()
    for event in batch:
        # By exact class, not isinstance: events are final, and an isinstance check on a
        # pydantic model goes through ABCMeta (a match tried up to five per event).
        if type(event) is TaskStateChanged:
            pending.task_state(event)
        elif type(event) in _OTHER_KINDS:
            if isinstance(event, BlueprintProposed):
                await pending.flush_task_states(conn)
                await _blueprint(conn, event)
            elif isinstance(event, EscalationRaised):
                pending.raise_(event)
            elif isinstance(event, EscalationResolved):
                pending.resolve(event)
            elif isinstance(event, LearningRecorded):
                pending.learning(event)
    await pending.flush(conn)


def parse_row(run_id: str, seq: int, body: str) -> EventBase:
    """An event from its stored JSON, or a one-line :class:`StorageError` naming it."""
    try:
        return event_from_json(body)
    except ValidationError as exc:
        raise StorageError(
            f"event #{seq} of run {run_id} is unreadable: "
            f"{exc.error_count()} validation error(s), first: {exc.errors()[0]['msg']}"
        ) from exc


async def rebuild(conn: AsyncConnection) -> int:
    """Empty every projection and replay the whole log into them; returns the runs replayed.

    Runs on ``conn``'s transaction: readers see the old projections until it commits.
    Appends wait for it: on PostgreSQL a batch committed after the replay read the log would
    otherwise update rows the rebuild had deleted (its task counts and states lost), so the
    log is locked against writers first, as SQLite's one writer lock does by itself.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"LOCK TABLE {events.name} IN SHARE MODE"))
    for table in PROJECTIONS:
        await conn.execute(delete(table))
    run_ids = (await conn.execute(select(events.c.run_id).distinct())).scalars().all()
    for run_id in run_ids:
        after = 0
        while True:
            page = (
                await conn.execute(
                    select(events.c.seq, events.c.body)
                    .where(and_(events.c.run_id == run_id, events.c.seq > after))
                    .order_by(events.c.seq)
                    .limit(REBUILD_PAGE)
                )
            ).all()
            if not page:
                break
            await project(conn, [parse_row(run_id, seq, body) for seq, body in page])
            after = page[-1][0]
    return len(run_ids)
