"""The TUI's header says the run stopped, and why, the moment its storage writer dies.

The storage writer process killed (SIGKILL) mid-run stopped the run with a toast, but the
header went on saying "running" (and the agents "running") until the person pressed ``q``.
Here the writer is the real child process on a SQLite file, watched as a run watches it
(:class:`~tui.storage_watch.StorageWatch`), and it is killed for real.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import sample_run
from pilot_helpers import caught_up

from engine.bus import EventBus
from engine.events import AgentStarted, TaskState, TaskStateChanged
from storage.errors import RunStopped
from storage.run_writer import ProcessStorageWriter
from storage.store import SqlEventStore
from tui.app import ShopfloorApp
from tui.storage_watch import StorageWatch
from tui.widgets.run_header import BudgetStrip, RunHeader


async def test_a_killed_storage_writer_shows_the_run_stopped_and_why_at_once(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await (await SqlEventStore.open(url)).close()  # migrated
    bus = EventBus(sample_run.RUN_ID)
    source = bus.subscribe("tui")
    writer = await ProcessStorageWriter.start(url, bus.subscribe("storage", durable=True))
    watch = StorageWatch(asyncio.create_task(writer.run()), run_id=sample_run.RUN_ID)

    async def engine() -> None:
        sample_run.start(bus)
        await asyncio.Event().wait()  # the run goes on until something stops it

    app = ShopfloorApp(source, run_task=lambda: watch.run(engine))
    async with app.run_test(size=(160, 40)) as pilot:
        await caught_up(app, bus, pilot)
        run_header = app.screen.query_one(RunHeader)
        assert "running" in str(run_header.content)
        writer.process.send_signal(signal.SIGKILL)
        await writer.process.wait()
        agent = sample_run.engineer_id("t1", 1)
        bus.emit(TaskStateChanged(task_id="t1", state=TaskState.RUNNING, attempt=1))
        bus.emit(AgentStarted(agent_id=agent, role="engineer", model="sim:", task_id="t1"))
        for _ in range(100):
            if app.run_error is not None:
                break
            await asyncio.sleep(0.05)
        await pilot.pause()
        assert isinstance(app.run_error, RunStopped)
        said = str(run_header.content)
        assert "running" not in said
        assert "stopped: because its events could not be stored" in said
        assert run_header.has_class("-stopped") and not run_header.has_class("-running")
        totals = str(app.screen.query_one(BudgetStrip).content)
        assert "1 running" not in totals and "1 cut off" in totals  # its engineer, stopped
        assert not app.leaving  # still up, without the person pressing q
    await bus.close()
