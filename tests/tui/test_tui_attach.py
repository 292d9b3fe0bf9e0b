"""``shopfloor attach``: the TUI reads a run another writer stores, and approves through
storage's decisions inbox."""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path

import pytest
import sample_run

from engine.bus import EventBus
from engine.events import RunFinished
from storage.store import SqlEventStore
from storage.writer import StorageWriter
from tui.app import ShopfloorApp
from tui.cli import main
from tui.commands import attach as attach_command
from tui.decision_delivery import storage_decider
from tui.screens.escalation import EscalationScreen
from tui.stored_feed import tail_store


async def test_attached_tui_follows_the_stored_log_and_approves_through_storage(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    writer_store = await SqlEventStore.open(url)
    tui_store = await SqlEventStore.open(url)
    bus = EventBus(sample_run.RUN_ID)
    writer = StorageWriter(writer_store, bus.subscribe("storage", durable=True))
    writer_task = asyncio.create_task(writer.run())

    async def engine() -> None:  # "another process": writes the run, then waits
        sample_run.full_pipeline(bus)
        await bus.durable()

    app = ShopfloorApp(
        tail_store(tui_store, sample_run.RUN_ID),
        on_decision=storage_decider(tui_store)(sample_run.RUN_ID),
        store=tui_store,
    )
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await engine()
            for _ in range(500):
                if app.state.open_escalations:
                    break
                await asyncio.sleep(0.02)
            await pilot.pause(0.1)
            assert app.state.last_seq == bus.state.last_seq
            assert app.main.waiting_escalations() == [sample_run.ESCALATION_ID]
            await pilot.press("e")
            assert isinstance(app.screen, EscalationScreen)
            await pilot.press("a")
            # What the run's engine reads from the inbox (the decision row is there).
            decisions = writer_store.decisions(sample_run.RUN_ID, poll_s=0.02)
            try:
                decision = await asyncio.wait_for(anext(decisions), 5)
            finally:
                await decisions.aclose()
            assert decision.escalation_id == sample_run.ESCALATION_ID
            assert decision.decision == "approve"
            assert decision.decided_by == f"human:{getpass.getuser()}"
            # The run's engine records the resolution and finishes; the TUI sees both.
            sample_run.resolve(bus, decision.decided_by)
            sample_run.finish(bus)
            await bus.durable()
            for _ in range(500):
                if app.finished:
                    break
                await asyncio.sleep(0.02)
            assert app.finished
            assert app.state.escalations[sample_run.ESCALATION_ID].decided_by == (
                f"human:{getpass.getuser()}"
            )
    finally:
        await bus.close()
        await writer_task
        await writer_store.close()
        await tui_store.close()


async def test_tail_store_polls_a_store_without_tail_and_stops_after_the_run_finished() -> None:
    events = []
    bus = EventBus(sample_run.RUN_ID)
    bus.listen(events.append)

    class Log:
        def __init__(self) -> None:
            self.reads = 0

        async def read(self, run_id: str, after_seq: int = 0) -> list:
            self.reads += 1
            return [e for e in events if e.seq > after_seq]

    log = Log()
    got: list = []

    async def consume() -> None:
        got.extend([event async for event in tail_store(log, sample_run.RUN_ID, poll_s=0.01)])

    task = asyncio.create_task(consume())
    sample_run.start(bus)
    await asyncio.sleep(0.05)
    sample_run.build(bus)
    sample_run.finish(bus)
    await asyncio.wait_for(task, 2)
    assert [e.seq for e in got] == list(range(1, bus.state.last_seq + 1))
    assert isinstance(got[-1], RunFinished)
    assert log.reads >= 2


def test_ctrl_c_leaves_an_attached_view_with_the_interrupted_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C in ``attach`` leaves the view (the run goes on in its own process): exit code
    130, as an interrupted command's, not 1 as if the run had failed."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    bus = EventBus(sample_run.RUN_ID)
    logged: list = []
    bus.listen(logged.append)
    sample_run.start(bus)

    async def store_it() -> None:
        async with await SqlEventStore.open(url) as store:
            await store.append(logged)

    asyncio.run(store_it())

    async def pressed(app: ShopfloorApp) -> None:  # the real app and keys, on no terminal
        async with app.run_test() as pilot:
            await pilot.press("ctrl+c")
            await pilot.pause()

    monkeypatch.setattr(ShopfloorApp, "run_async", pressed)
    monkeypatch.setattr(attach_command, "on_a_terminal", lambda: True)
    assert main(["attach", sample_run.RUN_ID, "--db", url]) == 130


@pytest.mark.parametrize(
    "keys", [("a",), ("c", *"use argparse", "enter")], ids=["approve", "change"]
)
async def test_an_attached_view_opens_the_next_waiting_question_after_any_decision(
    tmp_path: Path, keys: tuple[str, ...]
) -> None:
    """Reported: after a "change" in an attached view the next escalation was not opened,
    after an approve it was. Both reopen the queue on a question already waiting (this
    passed before too); a question the run raises only after taking the answer (the plan
    redrawn after a change) opens after neither: the banner announces it, ``e`` opens it."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    writer_store = await SqlEventStore.open(url)
    tui_store = await SqlEventStore.open(url)
    bus = EventBus(sample_run.RUN_ID)
    writer_task = asyncio.create_task(
        StorageWriter(writer_store, bus.subscribe("storage", durable=True)).run()
    )
    app = ShopfloorApp(
        tail_store(tui_store, sample_run.RUN_ID),
        on_decision=storage_decider(tui_store)(sample_run.RUN_ID),
        store=tui_store,
    )
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            sample_run.full_pipeline(bus)
            sample_run.escalate(bus, "esc-2", task_id="t3")
            await bus.durable()
            for _ in range(500):
                if len(app.main.waiting_escalations()) == 2:
                    break
                await asyncio.sleep(0.02)
            await pilot.pause(0.1)
            await pilot.press("e", *keys)
            await pilot.pause(0.3)
            assert isinstance(app.screen, EscalationScreen)
            assert app.screen.current is not None
            assert app.screen.current.escalation_id == "esc-2"
    finally:
        await bus.close()
        await writer_task
        await writer_store.close()
        await tui_store.close()
