"""A database made at each older schema revision, holding runs, opens as it was stored.

Alembic builds the database at revision 0001 (events and runs) or 0002 (plus the tasks,
escalations and learnings projections and the decisions inbox) and it is filled with the rows
the code of that revision wrote for the same runs; the current code then upgrades it, on open
or with ``shopfloor db upgrade``. Every run must read back as a database made at head reads
it: the log, each projection and ``status --json``. Both backends.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.bus import EventBus
from engine.events import EscalationRaised, EscalationResolved, LearningRecorded
from storage.connect import make_engine
from storage.migrate import alembic_config, head_revision
from storage.paths import normalize_db_url
from storage.schema import metadata
from storage.store import SqlEventStore
from tui.cli import main

TABLES = {
    "0001": ("events", "runs"),
    "0002": ("events", "runs", "tasks", "escalations", "learnings", "decisions"),
}
"""The tables of each revision, all of which a store at that revision kept filled."""


async def _stored_at_head(url: str, emit_little_run) -> None:
    async with await SqlEventStore.open(url) as store:
        shipped = EventBus("r-shipped")
        events = emit_little_run(shipped)
        finished = events.pop()  # questions and a lesson before its RunFinished
        shipped_tail = [
            EscalationRaised(escalation_id="esc-1", kind="twin", question="ship?", options=["yes"]),
            EscalationResolved(escalation_id="esc-1", decision="yes", decided_by="human:bo"),
            LearningRecorded(learning_id="L1", kind="trap", text="pin the clock", source="retry"),
        ]
        events += [shipped.emit(e) for e in shipped_tail]
        events.append(shipped.emit(finished.model_copy(update={"seq": 0})))
        await store.append(events)
        waiting = EventBus("r-waiting")
        await store.append(
            [
                *emit_little_run(waiting)[:4],
                waiting.emit(
                    EscalationRaised(escalation_id="esc-2", question="merge?", options=["yes"])
                ),
            ]
        )
        await store.post_decision("r-waiting", "esc-2", "yes", "human:bo")


async def _build_at(url: str, revision: str, source: str) -> None:
    """The database at ``url`` at ``revision``, holding ``source``'s rows of its tables."""
    engine: AsyncEngine = make_engine(normalize_db_url(url))
    donor = make_engine(normalize_db_url(source))
    try:

        def upgrade_to(sync: Connection) -> None:
            config = alembic_config()
            config.attributes["connection"] = sync
            command.upgrade(config, revision)

        async with engine.begin() as conn:
            await conn.run_sync(upgrade_to)
        async with donor.connect() as src, engine.begin() as dst:
            for name in TABLES[revision]:
                table = metadata.tables[name]
                rows = [dict(row) for row in (await src.execute(select(table))).mappings()]
                if rows:
                    await dst.execute(table.insert(), rows)
    finally:
        await engine.dispose()
        await donor.dispose()


async def _read_back(url: str) -> dict[str, object]:
    async with await SqlEventStore.open(url) as store:
        runs = {}
        for run_id in ("r-shipped", "r-waiting"):
            runs[run_id] = (
                await store.read(run_id),
                await store.get_run(run_id),
                await store.tasks(run_id),
                await store.escalations(run_id),
                await store.learnings(run_id),
            )
        runs["decisions"] = sorted(await store.waiting_decisions("r-waiting"))
        return runs


def _status(url: str, run_id: str, capsys: pytest.CaptureFixture[str]) -> object:
    capsys.readouterr()
    assert main(["status", run_id, "--json", "--db", url]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("how", ["on open", "db upgrade"])
@pytest.mark.parametrize("revision", ["0001", "0002"])
def test_runs_stored_at_an_older_revision_read_back_the_same(
    backend_url, tmp_path: Path, emit_little_run, capsys, monkeypatch, revision, how
):
    reference = f"sqlite+aiosqlite:///{tmp_path / 'head.db'}"
    asyncio.run(_stored_at_head(reference, emit_little_run))
    asyncio.run(_build_at(backend_url, revision, reference))

    if how == "db upgrade":
        monkeypatch.setenv("COLUMNS", "80")  # a terminal's width: the line stays one line
        capsys.readouterr()
        assert main(["db", "upgrade", "--db", backend_url]) == 0
        said = capsys.readouterr().out
        assert said.endswith(f": schema upgraded from {revision} to {head_revision()}\n")
        assert said.count("\n") == 1
    expected = asyncio.run(_read_back(reference))
    if revision == "0001":
        expected["decisions"] = []  # 0001 had no inbox: the posted decision was not kept
    assert asyncio.run(_read_back(backend_url)) == expected
    for run_id in ("r-shipped", "r-waiting"):
        assert _status(backend_url, run_id, capsys) == _status(reference, run_id, capsys)
