"""The agent log can be pinned (``p``) to keep following an agent while the cursor moves.

The log followed the graph's cursor: moving it to look at another task switched the log
away from the agent one was watching, and nothing kept a running agent's log on screen.
Pinned, the log stays on its task's latest agent (a retry's new attempt comes into view) or
on the agent chosen with ``[``/``]``; ``p`` again lets it follow the cursor.
"""

from __future__ import annotations

import sample_run
from pilot_helpers import caught_up
from test_tui_agent_log import on_screen

from engine.bus import EventBus
from engine.events import AgentOutput, AgentStarted, TaskState, TaskStateChanged
from tui.app import ShopfloorApp
from tui.widgets.agent_log import AgentLog
from tui.widgets.dag_view import DagView

SIZE = (120, 40)
T1 = sample_run.engineer_id("t1", 1)
T2_FIRST = sample_run.engineer_id("t2", 1)
T2_SECOND = sample_run.engineer_id("t2", 2)


def running(bus: EventBus, task_id: str, n: int, lines: list[str]) -> str:
    """An engineer attempt at ``task_id`` that is still at work, having said ``lines``."""
    agent_id = sample_run.engineer_id(task_id, n)
    bus.emit(TaskStateChanged(task_id=task_id, state=TaskState.RUNNING, attempt=n))
    bus.emit(
        AgentStarted(
            agent_id=agent_id, role="engineer", model="sim:", simulated=True,
            task_id=task_id, attempt=n,
        )
    )  # fmt: skip
    for line in lines:
        bus.emit(AgentOutput(agent_id=agent_id, text=line))
    return agent_id


def shown(app: ShopfloorApp) -> str | None:
    return app.screen.query_one(AgentLog).agent_id


def footer_actions(app: ShopfloorApp) -> set[str]:
    return {b.binding.action for b in app.screen.active_bindings.values() if b.binding.show}


async def test_a_pinned_log_stays_on_its_agent_while_the_cursor_moves() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        running(bus, "t1", 1, ["t1 writes its tests"])
        running(bus, "t2", 1, ["t2 starts"])
        await caught_up(app, bus, pilot)
        dag = app.screen.query_one(DagView)
        assert dag.highlighted_task_id == "t1" and shown(app) == T1
        assert "pin_log" in footer_actions(app) and "unpin_log" not in footer_actions(app)

        await pilot.press("j")  # unpinned, the log follows the cursor (as before)
        assert dag.highlighted_task_id == "t2" and shown(app) == T2_FIRST
        await pilot.press("k", "p")
        assert shown(app) == T1
        assert "unpin_log" in footer_actions(app) and "pin_log" not in footer_actions(app)
        assert app.screen.query_one(AgentLog).border_title == "agent log · pinned"

        await pilot.press("j", "j")  # looking at other tasks: the log stays on t1's agent
        assert dag.highlighted_task_id == "t3" and shown(app) == T1
        bus.emit(AgentOutput(agent_id=T1, text="t1 writes its code"))
        await caught_up(app, bus, pilot)
        assert shown(app) == T1
        assert on_screen(app) == ["t1 writes its tests", "t1 writes its code"]

        await pilot.press("p")  # unpinned: the log follows the cursor again, at once
        assert shown(app) is None  # t3: no agent has worked on it yet
        assert "pin_log" in footer_actions(app)
        assert app.screen.query_one(AgentLog).border_title == "agent log"


async def test_a_log_pinned_to_a_task_shows_its_retry() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        running(bus, "t2", 1, ["first try"])
        await caught_up(app, bus, pilot)
        await pilot.press("j", "p", "k")  # pin t2, then look at t1
        assert shown(app) == T2_FIRST
        sample_run.attempt(bus, "t1", 1, ["t1 done"], passes=True)
        running(bus, "t2", 2, ["second try"])  # t2's first attempt failed: a retry
        await caught_up(app, bus, pilot)
        assert app.screen.query_one(DagView).highlighted_task_id == "t1"
        assert shown(app) == T2_SECOND
        assert on_screen(app) == ["second try"]


async def test_an_agent_chosen_by_hand_is_what_a_pinned_log_keeps() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        running(bus, "t1", 1, ["one"])
        running(bus, "t2", 1, ["two"])
        await caught_up(app, bus, pilot)
        await pilot.press("p", "right_square_bracket")  # pinned, then the next agent
        assert shown(app) == T2_FIRST
        await pilot.press("j", "j", "k")
        assert shown(app) == T2_FIRST
        running(bus, "t2", 2, ["retry"])  # an agent pinned by hand is that agent
        await caught_up(app, bus, pilot)
        assert shown(app) == T2_FIRST
