"""No API key reaches the stored log, nor anything that reads it back.

A model writes a key-shaped string, an agent echoes a variable, a gate's failing test prints
the environment, a provider's error quotes a header: that text went into events as it came,
the storage writer stored it, and ``shopfloor status``, ``escalations --context``,
``export`` and the TUI's runs screen printed it from there. The bus now cleans every event's
free text as it emits it, so the stored rows never hold a key.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from test_keys_off_the_screen import LITERAL, SHAPED

from engine import loop as event_loop
from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.event_codec import event_to_json
from engine.events import (
    AgentOutput,
    AgentStarted,
    BlueprintProposed,
    EscalationRaised,
    EventBase,
    GateFinished,
    LearningRecorded,
    Outcome,
    RunFinished,
    RunStarted,
    Stage,
    StageChanged,
    TaskState,
    TaskStateChanged,
)
from engine.state import RunState
from storage.run_writer import start_writer
from storage.store import SqlEventStore
from tui.cli import main
from tui.screens.run_model import RunModel
from tui.screens.runs import run_row

RUN_ID = "r-leaky"


@pytest.fixture(autouse=True)
def secret_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_PROVIDER_API_KEY", LITERAL)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHOPFLOOR_DB", raising=False)
    monkeypatch.delenv(event_loop.LOOP_VARIABLE, raising=False)
    return tmp_path / "runs.db"


def leaky_run() -> list[EventBase]:
    """A run whose model, gate, failure and question each quote both keys."""
    agent = "engineer-t1-1"
    return [
        RunStarted(
            request=f"Build it; my key is {SHAPED}",
            repo="/srv/repo",
            base_branch="main",
            base_commit="0" * 40,
            integration_branch=f"shopfloor/wip/{RUN_ID}",
            simulated=True,
        ),
        BlueprintProposed(
            blueprint=Blueprint(
                spec=f"Read the key from {LITERAL}", tasks=[Task(id="t1", title=f"Use {SHAPED}")]
            )
        ),
        StageChanged(stage=Stage.BUILD),
        AgentStarted(agent_id=agent, role="engineer", model="sim:", task_id="t1", attempt=1),
        AgentOutput(agent_id=agent, text=f"export OPENAI_API_KEY={SHAPED}"),
        AgentOutput(agent_id=agent, kind="error", text=f"401: x-api-key {LITERAL} refused"),
        GateFinished(
            gate="tests",
            scope="task",
            task_id="t1",
            attempt=1,
            passed=False,
            summary=f"1 failed: key {SHAPED}",
            findings=[f"test_env: {LITERAL} != ''"],
            output_tail=f"E  assert {SHAPED!r} == ''\nenv: {LITERAL}",
        ),
        TaskStateChanged(
            task_id="t1",
            state=TaskState.FAILED,
            attempt=1,
            reason=f"gate tests failed: {SHAPED} / {LITERAL}",
        ),
        EscalationRaised(
            escalation_id="esc-1",
            kind="circuit_breaker",
            question=f"t1 failed twice printing {LITERAL}: retry?",
            options=["retry", "skip"],
            task_id="t1",
            context=f"FAILED tests/test_env.py\nE  {SHAPED}\nE  {LITERAL}",
        ),
    ]


ENDING = RunFinished(outcome=Outcome.FAILED, reason=f"engineer failed: 401 for key {SHAPED}")


async def store_through_the_writer(db: Path, events: list[EventBase]) -> None:
    """Emit ``events`` on a bus whose storage writer process stores them, as a run does (or
    its resume, when the run has events stored already)."""
    async with await SqlEventStore.open(str(db)) as store:
        bus = EventBus(RUN_ID, state=RunState.fold(await store.read(RUN_ID)))
        writer = await start_writer(store, bus.subscribe("storage", durable=True))
        writing = asyncio.create_task(writer.run())
        for event in events:
            bus.emit(event)
        await bus.close()
        await writing


def no_key_in(text: str) -> None:
    assert SHAPED[:12] not in text and LITERAL not in text


def stored_rows(db: Path) -> str:
    """Every row of every table of the database, as text."""
    with sqlite3.connect(db) as raw:
        tables = [
            name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        rows = [repr(row) for table in tables for row in raw.execute(f'SELECT * FROM "{table}"')]
    return "\n".join(rows)


def printed(capsys: pytest.CaptureFixture[str], db: Path, *commands: list[str]) -> None:
    for command in commands:
        assert main([*command, "--db", str(db)]) == 0, command
        out = capsys.readouterr().out
        no_key_in(out)
        assert "[REDACTED]" in out, command


def test_no_key_reaches_the_stored_rows_or_the_commands_that_print_them(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event_loop.run(store_through_the_writer(db, leaky_run()))
    stored = stored_rows(db)
    assert "export OPENAI_API_KEY=[REDACTED]" in stored
    no_key_in(stored)
    printed(
        capsys,
        db,
        ["status", RUN_ID],
        ["status", RUN_ID, "--json", "--plan"],
        ["escalations", "--context"],
        ["escalations", "--context", "--json"],
    )

    event_loop.run(store_through_the_writer(db, [ENDING]))
    no_key_in(stored_rows(db))
    printed(capsys, db, ["status", RUN_ID], ["status", RUN_ID, "--json"], ["export", RUN_ID])
    assert main(["status", RUN_ID, "--db", str(db)]) == 0
    assert "reason: engineer failed: 401 for key [REDACTED]" in capsys.readouterr().out

    assert main(["export", RUN_ID, "--db", str(db)]) == 0
    exported = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    gate = next(event for event in exported if event["type"] == "GateFinished")
    assert gate["output_tail"] == "E  assert '[REDACTED]' == ''\nenv: [REDACTED]"
    assert gate["findings"] == ["test_env: [REDACTED] != ''"]


def test_the_tui_shows_no_key_from_a_stored_run(db: Path) -> None:
    event_loop.run(store_through_the_writer(db, [*leaky_run(), ENDING]))

    async def read() -> tuple[list[EventBase], str]:
        async with await SqlEventStore.open(str(db)) as store:
            record = await store.get_run(RUN_ID)
            assert record is not None
            row = " ".join(str(cell) for cell in run_row(record))
            return list(await store.read(RUN_ID)), row

    events, row = event_loop.run(read())
    assert "Build it; my key is [REDACTED]" in row  # the runs screen's line for the run
    no_key_in(row)
    state = RunState.fold(events)  # what a replay or an attach folds, as the store reads it
    model = RunModel()
    model.apply(events)
    shown = "\n".join(
        [
            state.reason or "",
            *(task.reason for task in state.tasks.values()),
            *(esc.context + esc.question for esc in state.escalations.values()),
            *model.lines.lines("engineer-t1-1"),
        ]
    )
    assert "export OPENAI_API_KEY=[REDACTED]" in shown
    no_key_in(shown)


def stamped(events: list[EventBase], first: int = 1) -> list[EventBase]:
    """``events`` numbered as the bus would number them, without passing through it."""
    return [
        event.model_copy(update={"run_id": RUN_ID, "seq": seq})
        for seq, event in enumerate(events, start=first)
    ]


async def store_as_it_came(db: Path, events: list[EventBase]) -> None:
    """Store ``events`` straight into the database, uncleaned: a log written before the bus
    cleaned events, by an older shopfloor, or imported from one."""
    async with await SqlEventStore.open(str(db)) as store:
        await store.append(events)


LEARNED = LearningRecorded(
    learning_id="l-1", kind="trap", text=f"the tests need {SHAPED} set", source="retry:t1"
)


def test_a_log_stored_uncleaned_is_cleaned_by_every_command_that_reads_it(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Runs stored before the bus cleaned events keep their keys in the database; every
    reader (the commands, the runs screen, a later run's lessons) cleaned nothing and
    printed them as stored."""
    raw = stamped([*leaky_run(), LEARNED])
    event_loop.run(store_as_it_came(db, raw))
    assert SHAPED in stored_rows(db) and LITERAL in stored_rows(db)  # the bus was bypassed
    printed(
        capsys,
        db,
        ["status", RUN_ID],
        ["status", RUN_ID, "--json", "--plan"],
        ["escalations", "--context"],
        ["escalations", "--context", "--json"],
        ["runs", "--json"],
        ["learnings", "list"],
        ["export", RUN_ID],
    )
    event_loop.run(store_as_it_came(db, stamped([ENDING], first=len(raw) + 1)))
    printed(capsys, db, ["status", RUN_ID], ["runs", "--json"], ["export", RUN_ID])

    async def read() -> tuple[str, list[EventBase], str]:
        async with await SqlEventStore.open(str(db)) as store:
            record = await store.get_run(RUN_ID)
            assert record is not None
            lessons = " ".join(x.text for x in await store.learnings())
            return " ".join(str(c) for c in run_row(record)), await store.read(RUN_ID), lessons

    row, events, lessons = event_loop.run(read())
    assert "Build it; my key is [REDACTED]" in row
    no_key_in(row)
    no_key_in(lessons)  # what the next run's planner and engineers are told
    no_key_in(repr(RunState.fold(events)))  # what status, attach, replay and resume fold


def test_an_export_with_keys_is_imported_without_them(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An export written by an older shopfloor holds keys as they came; importing it stored
    them in the new database as they were."""
    export = tmp_path / "old-run.jsonl"
    lines = [event_to_json(e) for e in stamped([*leaky_run(), LEARNED, ENDING])]
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert SHAPED in export.read_text() and LITERAL in export.read_text()
    assert main(["import", str(export), "--db", str(db)]) == 0
    stored = stored_rows(db)
    assert "export OPENAI_API_KEY=[REDACTED]" in stored
    no_key_in(stored)
