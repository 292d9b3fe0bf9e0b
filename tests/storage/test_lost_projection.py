"""A dropped projection table is rebuilt from the log, and every command says so.

``runs``, ``tasks``, ``escalations`` and ``learnings`` derive from ``events`` alone. One of
them dropped, ``status``/``runs`` said "no such table: runs", a run stopped with "fix the
database (its tables...)", and ``shopfloor db rebuild`` itself failed with "no such table":
nothing in the CLI made the table again, though the log it derives from was whole. Now
``db rebuild`` recreates it and refills it from the log, the commands that read it name that
command, and a resume finds the table missing before it does anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from demo_process import cli
from sqlalchemy import text

from engine.bus import EventBus
from engine.events import EventBase, TaskState, TaskStateChanged
from engine.state import RunState
from storage.errors import PROJECTION_TABLES, REBUILD_REMEDY, ProjectionGone
from storage.paths import db_option
from storage.run_writer import ProcessStorageWriter
from storage.schema import PROJECTIONS
from storage.store import SqlEventStore
from tui.commands.exit_codes import EXIT_BAD_INPUT, EXIT_OK
from tui.storage_watch import refused_line

READING = {
    "runs": (("status", "r-kept"), ("runs",)),
    "tasks": (),  # status folds the log; a run's writer meets it (below)
    "escalations": (("escalations",),),
    "learnings": (("learnings",),),
}
"""The commands that read each projection table."""


def test_the_projection_names_are_the_schemas() -> None:
    assert {table.name for table in PROJECTIONS} == PROJECTION_TABLES


@pytest.mark.parametrize("table", sorted(PROJECTION_TABLES))
async def test_db_rebuild_recreates_a_dropped_projection_from_the_log(
    backend_url: str,
    emit_little_run: Callable[[EventBus], list[EventBase]],
    tmp_path: Path,
    table: str,
) -> None:
    async with await SqlEventStore.open(backend_url) as store:
        await store.append(emit_little_run(EventBus("r-kept")))
        before = await store.projection_rows()
        async with store.engine.begin() as conn:
            await conn.execute(text(f'DROP TABLE "{table}"'))
        with pytest.raises(ProjectionGone, match=f'no such table: {table}|"{table}"'):
            await store.check_writes()  # what a run or a resume asks before it starts

    for command in READING[table]:  # what reads it says what brings it back
        said = await asyncio.to_thread(cli, tmp_path, *command, "--db", backend_url)
        assert said.returncode == EXIT_BAD_INPUT, said.stderr
        rebuild = f"`shopfloor db rebuild{db_option(backend_url)}`"  # the database read
        remedy = REBUILD_REMEDY.replace("`shopfloor db rebuild`", rebuild)
        assert said.stderr.endswith(f": the database has no {table} table; {remedy}\n"), said.stderr
        assert said.stderr.count("\n") == 1, said.stderr

    rebuilt = await asyncio.to_thread(cli, tmp_path, "db", "rebuild", "--db", backend_url)
    assert rebuilt.returncode == EXIT_OK, rebuilt.stderr
    assert rebuilt.stdout.splitlines() == [
        f"recreated the table(s) the database had lost: {table}",
        "rebuilt projections of 1 run(s) from 11 event(s)",
    ]
    async with await SqlEventStore.open(backend_url) as store:
        assert await store.projection_rows() == before
        await store.check_writes()
        # Made as the migrations made it: a later migration finds what it refers to.
        async with store.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                query = "SELECT conname FROM pg_constraint WHERE conrelid = 'runs'::regclass"
                names = set((await conn.execute(text(query))).scalars())
            else:
                query = "SELECT sql FROM sqlite_master WHERE name = 'runs'"
                names = set((await conn.execute(text(query))).scalar_one().split())
        assert "ck_runs_ck_runs_outcome" in names


async def test_db_rebuild_with_nothing_lost_says_only_what_it_rebuilt(
    db_url: str, emit_little_run: Callable[[EventBus], list[EventBase]], tmp_path: Path
) -> None:
    async with await SqlEventStore.open(db_url) as store:
        await store.append(emit_little_run(EventBus("r-kept")))
    rebuilt = await asyncio.to_thread(cli, tmp_path, "db", "rebuild", "--db", db_url)
    assert rebuilt.stdout.splitlines() == ["rebuilt projections of 1 run(s) from 11 event(s)"]


async def test_a_run_whose_projection_is_dropped_stops_naming_db_rebuild(
    backend_url: str, emit_little_run: Callable[[EventBus], list[EventBase]]
) -> None:
    """The run's writer process says the table is one a rebuild brings back (``rebuild``),
    and the stop line says so, instead of "fix the database (its tables ...)"."""
    async with await SqlEventStore.open(backend_url) as store:
        events = emit_little_run(EventBus("r-cut"))
        await store.append(events[:3])
        async with store.engine.begin() as conn:
            await conn.execute(text("DROP TABLE tasks"))
        more = EventBus("r-cut", state=RunState.fold(events[:3]))  # as a resume does
        writer = await ProcessStorageWriter.start(store.url, more.subscribe("storage"))
        writing = asyncio.create_task(writer.run())
        more.emit(TaskStateChanged(task_id="core", state=TaskState.GATES, attempt=1))
        with pytest.raises(ProjectionGone) as refused:
            await asyncio.wait_for(writing, 30)
        assert await store.count_events() == 3  # stored whole or not at all
    assert str(refused_line(refused.value, "r-cut")) == (
        f"the run stopped because the database lost a table its log rebuilds, which waiting "
        f"will not change: {refused.value}; {REBUILD_REMEDY}, then `shopfloor resume r-cut` "
        "carries the run on"
    )


async def test_checking_writes_writes_nothing(
    backend_url: str, emit_little_run: Callable[[EventBus], list[EventBase]]
) -> None:
    async with await SqlEventStore.open(backend_url) as store:
        await store.append(emit_little_run(EventBus("r-kept"))[:4])
        before = await store.projection_rows()
        await store.check_writes()
        assert await store.count_events() == 4
        assert await store.projection_rows() == before
