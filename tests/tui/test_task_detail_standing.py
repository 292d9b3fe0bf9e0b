"""The task detail screen says how a task's agents stand as the agent table does.

Before, task detail asked the run's log alone: attached to a run whose process was killed,
its agent was "running" there while the header said stopped and the agent table "cut off";
and a replay of a stopped run (its log has no ending) ended with its agents running in the
table, the log's title and task detail alike.
"""

from __future__ import annotations

import sample_run
from pilot_helpers import caught_up
from textual.pilot import Pilot

from engine.bus import EventBus
from engine.events import AgentStarted, TaskState, TaskStateChanged
from tui.app import ShopfloorApp
from tui.screens.runs import ReplayScreen
from tui.screens.task_detail import TaskDetailScreen
from tui.widgets.agent_table import AgentTable
from tui.widgets.run_header import RunHeader

SIZE = (120, 40)
AGENT = sample_run.engineer_id("t1", 1)


def drawn(app: ShopfloorApp) -> str:
    """What the current screen draws, as it goes to the terminal."""
    update = app.screen._compositor.render_update(full=True)  # type: ignore[attr-defined]
    return "\n".join("".join(segment.text for segment in strip) for strip in update.strips)


def work(bus: EventBus) -> None:
    """t1's first attempt, its engineer started and never finished."""
    bus.emit(TaskStateChanged(task_id="t1", state=TaskState.RUNNING, attempt=1))
    bus.emit(
        AgentStarted(
            agent_id=AGENT, role="engineer", model="sim:", simulated=True, task_id="t1", attempt=1
        )
    )


async def detail_says(app: ShopfloorApp, pilot: Pilot[None]) -> str:
    """How task detail of t1 says its engineer stands (then back to the run screen)."""
    run_screen = app.screen
    run_screen.open_task("t1")  # type: ignore[attr-defined]
    await pilot.pause()
    assert isinstance(app.screen, TaskDetailScreen)
    line = next(line for line in drawn(app).splitlines() if AGENT in line)
    await pilot.press("escape")
    await pilot.pause()
    return line.rsplit(": ", 1)[1].strip(" │")


async def test_task_detail_of_a_stopped_run_says_its_agent_was_cut_off() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        work(bus)
        await caught_up(app, bus, pilot)
        assert await detail_says(app, pilot) == "running"
        app.main.show_stopped(True)  # attached, and the run's process was killed
        await pilot.pause()
        assert await detail_says(app, pilot) == "cut off"
        app.main.show_stopped(False)  # resumed elsewhere
        await pilot.pause()
        assert await detail_says(app, pilot) == "running"


async def test_a_replay_of_a_stopped_run_ends_with_its_agents_cut_off() -> None:
    # started, t1 at work, and then the process was killed: no ending in the log
    events = sample_run.recorded(sample_run.start, work)
    app = ShopfloorApp(EventBus(sample_run.RUN_ID).subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        replay = ReplayScreen(events)
        await app.push_screen(replay)
        await pilot.pause()
        assert replay.position == replay.steps
        assert str(replay.query_one(AgentTable).row_cells(AGENT)[1]) == "cut off"
        assert "stopped" in str(replay.query_one(RunHeader).content)
        assert await detail_says(app, pilot) == "cut off"
        await pilot.press("h")  # a step back: the run was under way then
        await pilot.pause()
        assert replay.driven and "stopped" not in str(replay.query_one(RunHeader).content)


async def test_a_replay_of_a_finished_run_is_not_shown_stopped() -> None:
    events = sample_run.recorded()
    app = ShopfloorApp(EventBus(sample_run.RUN_ID).subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        replay = ReplayScreen(events)
        await app.push_screen(replay)
        await pilot.pause()
        assert replay.driven and "stopped" not in str(replay.query_one(RunHeader).content)
        assert str(replay.query_one(AgentTable).row_cells(AGENT)[1]) == "done"
