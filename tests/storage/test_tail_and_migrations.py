"""Tailing a run from another store (another process's view), and the schema's migrations:
fresh, upgraded from the pre-Alembic schema, and refused when newer. Both backends."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.bus import EventBus
from engine.events import AgentOutput, Outcome, RunFinished
from storage.connect import make_engine
from storage.migrate import (
    HEAD_REVISION,
    NewerSchemaError,
    alembic_config,
    head_revision,
    upgrade,
)
from storage.paths import normalize_db_url
from storage.schema import metadata
from storage.store import SqlEventStore

ROOT = Path(__file__).resolve().parents[2]


async def _collect(stream, into: list) -> None:
    async with contextlib.aclosing(stream):
        async for event in stream:
            into.append(event)  # noqa: PERF401 - one by one: a cancelled follow keeps its events


async def test_tail_sees_what_another_store_commits_and_stops_at_the_end(
    store, backend_url, emit_little_run
):
    bus = EventBus("r-live")
    emitted = emit_little_run(bus)
    async with await SqlEventStore.open(backend_url) as watcher:
        seen: list = []
        tailing = asyncio.create_task(_collect(watcher.tail("r-live", poll_s=0.01), seen))
        await asyncio.sleep(0.1)  # the run does not exist yet: the tail waits for it
        assert seen == [] and not tailing.done()
        for start in range(0, len(emitted), 4):
            await store.append(emitted[start : start + 4])
            await asyncio.sleep(0.02)
        await asyncio.wait_for(tailing, timeout=5)  # ended by itself at RunFinished
    assert seen == emitted


async def test_tail_after_a_seq_and_of_a_finished_run(store, emit_little_run):
    emitted = emit_little_run(EventBus("r-old"))
    await store.append(emitted)
    rest: list = []
    await asyncio.wait_for(_collect(store.tail("r-old", after_seq=8), rest), timeout=5)
    assert rest == emitted[8:]
    nothing: list = []
    await asyncio.wait_for(_collect(store.tail("r-old", after_seq=len(emitted)), nothing), 5)
    assert nothing == []


async def test_tail_can_keep_following_past_the_end(store, backend_url, emit_little_run):
    emitted = emit_little_run(EventBus("r-resumed"))
    await store.append(emitted)
    async with await SqlEventStore.open(backend_url) as watcher:
        seen: list = []
        following = asyncio.create_task(
            _collect(watcher.tail("r-resumed", follow=True, poll_s=0.01), seen)
        )
        extra = AgentOutput(run_id="r-resumed", seq=len(emitted) + 1, agent_id="a", text="resumed")
        await asyncio.sleep(0.05)
        await store.append([extra])
        for _ in range(200):
            if len(seen) == len(emitted) + 1:
                break
            await asyncio.sleep(0.01)
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
    assert seen == [*emitted, extra]
    assert isinstance(seen[len(emitted) - 1], RunFinished)


# -- migrations ------------------------------------------------------------------------------


async def test_a_fresh_database_is_migrated_to_exactly_the_schema(backend_url):
    async with await SqlEventStore.open(backend_url) as fresh:
        assert fresh.migrated is not None
        assert (fresh.migrated.before, fresh.migrated.after) == (None, head_revision())
        async with fresh.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
    assert diff == []  # the migrations build what storage/schema.py declares
    async with await SqlEventStore.open(backend_url) as again:
        assert again.migrated is not None and not again.migrated.changed


def test_the_head_revision_constant_is_alembics_head() -> None:
    assert HEAD_REVISION == head_revision()


async def test_a_database_at_head_is_opened_without_loading_alembic(backend_url: str) -> None:
    """The first open migrates (Alembic); every later one, in a quick command's process,
    reads the stamp and leaves Alembic unloaded."""
    probe = (
        "import asyncio, sys\n"
        "from storage.store import SqlEventStore\n"
        "async def main():\n"
        f"    async with await SqlEventStore.open({backend_url!r}) as store:\n"
        "        print(store.migrated.changed, 'alembic' in sys.modules)\n"
        "asyncio.run(main())\n"
    )

    def opened() -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    # A fresh database: created at head at once, without Alembic; then opened at head.
    assert await asyncio.to_thread(opened) == "True False"
    assert await asyncio.to_thread(opened) == "False False"


async def test_an_empty_database_is_created_as_the_migrations_would_build_it(backend_url):
    """An empty database is created from storage/schema.py and stamped at head, not built
    by running each migration: both ways make the same tables, columns, keys and indexes."""
    engine = make_engine(normalize_db_url(backend_url))
    try:
        created = await upgrade(engine, "db")
        assert (created.before, created.after) == (None, HEAD_REVISION)
        at_once = await _schema(engine)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.execute(text("DROP TABLE alembic_version"))
        async with engine.begin() as conn:  # as the store ran it before: each migration
            await conn.run_sync(_run_the_migrations)
        assert await _schema(engine) == at_once  # with the same stamp: the head
        assert "alembic_version" in at_once
    finally:
        await engine.dispose()


def _run_the_migrations(sync: Connection) -> None:
    """Build the schema in an empty database through Alembic, one migration after another."""
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = sync
    command.upgrade(config, "head")


async def _schema(engine: AsyncEngine) -> dict[str, list[object]]:
    """What reflection says of each table: columns (by name), keys, indexes, constraints,
    and the revision it is stamped with."""

    def reflect(sync: Connection) -> dict[str, list[object]]:
        seen = inspect(sync)
        tables: dict[str, list[object]] = {}
        for table in seen.get_table_names():
            columns = sorted(
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in seen.get_columns(table)
            )
            tables[table] = [
                columns,
                seen.get_pk_constraint(table),
                sorted(map(_plain, seen.get_indexes(table))),
                sorted(map(repr, seen.get_unique_constraints(table))),
                sorted(map(repr, seen.get_foreign_keys(table))),
                sorted(map(repr, seen.get_check_constraints(table))),
            ]
        stamp = sync.execute(text("SELECT version_num FROM alembic_version")).all()
        tables["alembic_version"].append([row[0] for row in stamp])
        return tables

    async with engine.connect() as conn:
        return await conn.run_sync(reflect)


def _plain(index: object) -> str:
    """An index as reflection describes it, its partial ``WHERE`` clause as its SQL text."""
    described = dict(index)  # type: ignore[call-overload]
    options = described.pop("dialect_options", {})
    return repr((sorted(described.items()), sorted((k, str(v)) for k, v in options.items())))


async def test_a_pre_alembic_database_is_upgraded_and_its_projections_filled(
    backend_url, emit_little_run
):
    # A 0.1 database: events and runs as create_all made them, no alembic_version.
    async with await SqlEventStore.open(backend_url) as old:
        await old.append(emit_little_run(EventBus("r-legacy")))
        async with old.engine.begin() as conn:
            for table in ("decisions", "learnings", "escalations", "tasks", "alembic_version"):
                await conn.execute(text(f"DROP TABLE {table}"))
            await conn.execute(text("DROP INDEX ix_runs_repo"))

    async with await SqlEventStore.open(backend_url) as upgraded:
        assert upgraded.migrated is not None
        assert (upgraded.migrated.before, upgraded.migrated.after) == ("0001", head_revision())
        tasks = {t.task_id: t.state for t in await upgraded.tasks("r-legacy")}
        assert tasks == {"core": "gates", "cli": "pending"}  # replayed from the old log
        run = await upgraded.get_run("r-legacy")
        assert run is not None and run.outcome is Outcome.SHIPPED


async def test_a_database_from_a_newer_shopfloor_is_refused(backend_url):
    async with await SqlEventStore.open(backend_url) as current:
        async with current.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    with pytest.raises(NewerSchemaError) as info:
        await SqlEventStore.open(backend_url)
    message = str(info.value)
    assert "\n" not in message
    assert "schema revision '0099_future', newer than this shopfloor knows" in message
    assert message.endswith("upgrade shopfloor to use it")


async def test_read_can_take_only_the_events_of_some_types(store, emit_little_run):
    """``escalations --context`` reads a run's questions, not its every log line."""
    emitted = emit_little_run(EventBus("r-types"))
    await store.append(emitted)
    wanted = {"RunStarted", "Merged"}
    assert await store.read("r-types", types=wanted) == [e for e in emitted if e.type in wanted]
    assert await store.read("r-types", types=()) == []
