"""Pilot tests of the Textual app, fed by an EventBus the test drives directly."""

from __future__ import annotations

import asyncio
import copy
import gc
from datetime import UTC, datetime, timedelta

import pytest
import sample_run
from pilot_helpers import caught_up, layouts_of, screen_quiet
from textual.message import Message

from engine.bus import EventBus
from engine.events import (
    AgentOutput,
    AgentStarted,
    EventBase,
    LLMCallFinished,
    Outcome,
    TaskState,
    TaskStateChanged,
)
from tui.app import ShopfloorApp
from tui.app_front import quit_or_exit_now
from tui.messages import EventsArrived, EventStreamEnded
from tui.widgets.agent_log import AgentLog
from tui.widgets.agent_table import AgentTable
from tui.widgets.dag_view import DagView
from tui.widgets.run_header import BudgetStrip, RunHeader

SIZE = (120, 40)


def states(app: ShopfloorApp) -> dict[str, str]:
    dag = app.screen.query_one(DagView)
    shown = {task_id: str(dag.label_of(task_id)) for task_id in dag.shown_task_ids}
    return {
        task_id: next(s.value for s in TaskState if f" {s.value}" in label)
        for task_id, label in shown.items()
    }


def header(app: ShopfloorApp) -> str:
    return str(app.screen.query_one(RunHeader).content)


def totals(app: ShopfloorApp) -> str:
    return str(app.screen.query_one(BudgetStrip).content)


def log_lines(app: ShopfloorApp) -> list[str]:
    return list(app.screen.query_one(AgentLog).lines)


async def test_table_shows_task_states_as_they_change() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        await caught_up(app, bus, pilot)
        assert states(app) == {"t1": "pending", "t2": "pending", "t3": "pending"}

        sample_run.attempt(bus, "t1", 1, sample_run.T1_LINES, passes=True)
        bus.emit(TaskStateChanged(task_id="t2", state=TaskState.RUNNING, attempt=1))
        await caught_up(app, bus, pilot)
        assert states(app) == {"t1": "merged", "t2": "running", "t3": "pending"}
        label = str(app.screen.query_one(DagView).label_of("t1"))
        assert "t1 Greeting module with tests" in label and label.endswith("merged")
        assert "merged 1/3" in totals(app)
        assert "tokens 1.2k in / 300 out" in totals(app)
        assert sample_run.RUN_ID in header(app)
        assert "build" in header(app)
        assert "running" in header(app)
        assert sample_run.REQUEST in header(app)


async def test_a_resumed_run_shows_what_its_log_held_then_carries_on_live() -> None:
    """``shopfloor resume --tui``: the live subscription starts at the resume, so the app is
    also handed the events logged before it; the screen shows the whole run, not a blank
    DAG waiting for a blueprint that was drawn before the stop."""
    before = EventBus(sample_run.RUN_ID)
    logged: list[EventBase] = []
    before.listen(logged.append)
    sample_run.start(before)
    sample_run.attempt(before, "t1", 1, sample_run.T1_LINES, passes=True)
    bus = EventBus(sample_run.RUN_ID, state=copy.deepcopy(before.state))  # the resume's fold
    app = ShopfloorApp(bus.subscribe("tui"), logged=logged)
    async with app.run_test(size=SIZE) as pilot:
        await caught_up(app, before, pilot)
        assert states(app) == {"t1": "merged", "t2": "pending", "t3": "pending"}
        assert log_lines(app) == sample_run.T1_LINES
        assert "merged 1/3" in totals(app)

        sample_run.attempt(bus, "t2", 1, sample_run.T2_SECOND_LINES, passes=True)
        sample_run.attempt(bus, "t3", 1, sample_run.T3_LINES, passes=True)
        sample_run.finish(bus)
        await caught_up(app, bus, pilot)
        assert states(app) == {"t1": "merged", "t2": "merged", "t3": "merged"}
        assert "merged 3/3" in totals(app)
        assert "shipped" in header(app)
        assert app.state.last_seq == bus.state.last_seq  # each event folded once, in order


async def test_selecting_a_task_shows_its_latest_engineer_log() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        sample_run.build(bus)
        await caught_up(app, bus, pilot)

        # The first task is selected as soon as the blueprint arrives.
        assert app.screen.query_one(AgentLog).agent_id == "engineer:t1:a1"
        assert log_lines(app) == sample_run.T1_LINES

        await pilot.press("j")
        # t2 had two attempts: the log is the second engineer's, not the failed first one.
        assert app.screen.query_one(AgentLog).agent_id == "engineer:t2:a2"
        assert log_lines(app) == sample_run.T2_SECOND_LINES

        await pilot.press("j")
        assert log_lines(app) == sample_run.T3_LINES

        await pilot.press("k", "k")
        assert log_lines(app) == sample_run.T1_LINES


async def test_log_follows_new_lines_and_new_attempts_of_the_selected_task() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        sample_run.attempt(bus, "t1", 1, ["first line"], passes=False)
        await caught_up(app, bus, pilot)
        assert log_lines(app) == ["first line"]

        bus.emit(AgentOutput(agent_id="engineer:t1:a1", text="late line\nand another"))
        bus.emit(AgentOutput(agent_id="engineer:t1:a1", kind="error", text="boom"))
        await caught_up(app, bus, pilot)
        assert log_lines(app) == ["first line", "late line", "and another", "! boom"]

        sample_run.attempt(bus, "t1", 2, ["second attempt"], passes=True)
        await caught_up(app, bus, pilot)
        assert app.screen.query_one(AgentLog).agent_id == "engineer:t1:a2"
        assert log_lines(app) == ["second attempt"]


@pytest.mark.parametrize("simulated", [True, False])
async def test_sim_marker_shown_only_for_simulated_runs(simulated: bool) -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus, simulated=simulated)
        sample_run.attempt(bus, "t1", 1, ["hi"], passes=True, simulated=simulated)
        await caught_up(app, bus, pilot)
        log_title = str(app.screen.query_one(".agent-log--title").content)  # type: ignore[attr-defined]
        for text in (header(app), totals(app), log_title):
            assert ("SIM" in text) is simulated, text
        assert app.screen.query_one(RunHeader).has_class("-sim") is simulated


async def test_outcome_shown_when_the_run_finishes() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.whole_run(bus)
        await caught_up(app, bus, pilot)
        assert app.finished
        assert "shipped" in header(app)
        assert sample_run.BRANCH in header(app)
        assert app.screen.query_one(RunHeader).has_class("-shipped")
        assert app.sub_title == "shipped"
        assert "merged 3/3" in totals(app)
        assert states(app) == {"t1": "merged", "t2": "merged", "t3": "merged"}


async def test_the_header_says_stopped_while_no_process_drives_the_run() -> None:
    """An attached view of a run whose process was killed said "running" in its header
    while a toast said nobody drives it; the header now says "stopped" until a process
    takes the run again."""
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        await caught_up(app, bus, pilot)
        assert "running" in header(app)
        app.main.show_stopped(True)
        await pilot.pause()
        assert "stopped" in header(app) and "running" not in header(app)
        assert app.screen.query_one(RunHeader).has_class("-stopped")
        assert not app.screen.query_one(RunHeader).has_class("-running")
        sample_run.attempt(bus, "t1", 1, ["hi"], passes=True)  # later events keep it
        await caught_up(app, bus, pilot)
        assert "stopped" in header(app)
        app.main.show_stopped(False)  # resumed elsewhere
        await pilot.pause()
        assert "running" in header(app) and "stopped" not in header(app)


async def test_a_flood_of_output_arrives_in_few_messages_and_in_order() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    seen: list[Message] = []
    async with app.run_test(size=SIZE, message_hook=seen.append) as pilot:
        sample_run.start(bus)
        sample_run.attempt(bus, "t1", 1, [f"line {i}" for i in range(200)], passes=True)
        await caught_up(app, bus, pilot)
        assert log_lines(app) == [f"line {i}" for i in range(200)]
        await bus.close()
        await pilot.pause()

    arrived = [m for m in seen if isinstance(m, EventsArrived)]
    seqs = [event.seq for message in arrived for event in message.events]
    assert seqs == list(range(1, bus.state.last_seq + 1))
    assert len(arrived) <= 2
    ended = next(m for m in seen if isinstance(m, EventStreamEnded))
    assert ended.delivered == bus.state.last_seq


async def test_exit_when_done_runs_the_engine_task_and_exits_with_the_outcome() -> None:
    bus = EventBus(sample_run.RUN_ID)

    async def run() -> None:
        sample_run.start(bus)
        await asyncio.sleep(0.01)
        sample_run.build(bus)
        await asyncio.sleep(0.01)
        sample_run.finish(bus)
        await bus.close()

    app = ShopfloorApp(bus.subscribe("tui"), run_task=run, exit_when_done=True)
    await asyncio.wait_for(app.run_async(headless=True, size=SIZE), timeout=20)
    assert app.return_code == 0
    assert app.state.outcome is Outcome.SHIPPED
    assert app.state.to_status() == bus.state.to_status()


async def test_exit_when_done_reports_an_engine_crash() -> None:
    bus = EventBus(sample_run.RUN_ID)

    async def run() -> None:
        sample_run.start(bus)
        raise RuntimeError("planner exploded")

    app = ShopfloorApp(bus.subscribe("tui"), run_task=run, exit_when_done=True)
    await asyncio.wait_for(app.run_async(headless=True, size=SIZE), timeout=20)
    assert app.return_code == 2
    assert isinstance(app.run_error, RuntimeError)
    assert app.state.run_id == sample_run.RUN_ID


async def test_quitting_mid_run_cancels_the_engine_and_does_not_block_the_bus() -> None:
    bus = EventBus(sample_run.RUN_ID)
    cancelled = asyncio.Event()

    async def run() -> None:
        sample_run.start(bus)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    app = ShopfloorApp(bus.subscribe("tui"), run_task=run)
    async with app.run_test(size=SIZE) as pilot:
        await caught_up(app, bus, pilot)
        await pilot.press("q")
    assert cancelled.is_set()
    # Events emitted after the TUI is gone must not make the bus wait for it.
    sample_run.attempt(bus, "t1", 1, ["nobody is watching"], passes=True)
    await asyncio.wait_for(bus.close(), timeout=2)


async def test_tab_switches_focus_between_graph_agents_and_log() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        await caught_up(app, bus, pilot)
        assert isinstance(app.focused, DagView)
        await pilot.press("tab")
        assert isinstance(app.focused, AgentTable)
        await pilot.press("tab")
        assert app.focused is not None and app.focused.parent is app.screen.query_one(AgentLog)


async def test_agent_rows_and_wider_columns_do_not_lay_the_screen_out() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))

    def started(agent_id: str, attempt: int) -> AgentStarted:
        return AgentStarted(
            agent_id=agent_id,
            role="engineer",
            model="sim:",
            simulated=True,
            task_id="t1",
            attempt=attempt,
        )

    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        for n in range(1, 16):  # more rows than the table shows: its scrollbar is there
            bus.emit(started(sample_run.engineer_id("t1", n), n))
        await caught_up(app, bus, pilot)
        table = app.screen.query_one(AgentTable)
        assert table.show_vertical_scrollbar
        width = table.virtual_size.width
        longer = "engineer:t1:a-retry-with-a-much-longer-agent-name"
        await screen_quiet(pilot)
        with layouts_of(app.screen) as layouts:
            bus.emit(started(longer, 16))
            await caught_up(app, bus, pilot)
            await screen_quiet(pilot)  # a late layout the row caused is counted too
        assert layouts == [0]
        assert table.row_count == 16
        # The name's column widened as far as the cost stays in the panel (it gives way then).
        room = table.scrollable_content_region.width
        assert width < table.virtual_size.width <= room + len(" engineer "), (width, room)
        assert table.virtual_size.height == 17
        assert table.vertical_scrollbar.window_virtual_size == 17
        assert table.horizontal_scrollbar.window_virtual_size == table.virtual_size.width


async def test_agent_table_keys_pick_the_agent_whose_log_is_shown() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        sample_run.attempt(bus, "t1", 1, sample_run.T1_LINES, passes=True)
        sample_run.attempt(bus, "t2", 1, ["t2 says hi"], passes=True)
        await caught_up(app, bus, pilot)
        table = app.screen.query_one(AgentTable)
        assert table.agent_ids == ["engineer:t1:a1", "engineer:t2:a1"]
        await pilot.press("tab")
        assert app.focused is table
        await pilot.press("home")
        assert table.highlighted_agent_id == "engineer:t1:a1"
        assert app.screen.query_one(AgentLog).agent_id == "engineer:t1:a1"
        await pilot.press("down")
        await pilot.pause()
        assert table.highlighted_agent_id == "engineer:t2:a1"
        assert app.screen.query_one(AgentLog).agent_id == "engineer:t2:a1"
        assert log_lines(app) == ["t2 says hi"]
        bus.emit(
            LLMCallFinished(
                agent_id="engineer:t2:a1",
                role="engineer",
                provider="sim",
                model="sim:",
                simulated=True,
                input_tokens=5000,
                output_tokens=0,
            )
        )
        await caught_up(app, bus, pilot)
        assert str(table.row_cells("engineer:t2:a1")[3]).endswith("k")


async def test_the_app_keeps_the_collector_off_its_widgets_while_it_runs() -> None:
    # engine.heap: a full collection walking Textual's objects stalled the screen mid-flood.
    gc.unfreeze()
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        dag = app.screen.query_one(DagView)
        assert gc.get_freeze_count() > 0
        assert not any(o is dag for o in gc.get_objects())  # frozen: in no generation
    assert gc.get_freeze_count() == 0  # given back when the app ends


async def test_a_stop_signal_after_q_ends_a_tui_whose_shutdown_is_stuck() -> None:
    """``q`` was pressed, and the app never got out (a terminal that took no more output): a
    SIGTERM then only asked it to exit again, and nothing but SIGKILL ended the process. A
    stop signal to an app already leaving exits at once, as a second Ctrl-C does."""
    exits: list[int] = []
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test() as pilot:
        quit_or_exit_now(app, exits.append)  # the first signal: quit as q does
        assert app.leaving and exits == []
        quit_or_exit_now(app, exits.append)  # still here: out at once
        assert exits == [130]
        await pilot.pause()


async def test_a_factory_notice_is_a_toast_a_logged_one_is_not() -> None:
    """The merge queue waits for the user to let go of the integration branch and says so
    in its own log, which nobody has open: the news shows as a toast. A model agent's
    notice (a retry) stays in its log, and so does an old notice of a stored log."""
    bus = EventBus(sample_run.RUN_ID)
    stale = AgentOutput(
        agent_id="merge-queue",
        kind="notice",
        text="merging paused before task t0",
        run_id=sample_run.RUN_ID,
        seq=1,
        ts=datetime.now(UTC) - timedelta(hours=2),
    )
    app = ShopfloorApp(bus.subscribe("tui"), logged=[stale])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        sample_run.start(bus)
        sample_run.attempt(bus, "t1", 1, sample_run.T1_LINES, passes=True)
        bus.emit(AgentOutput(agent_id="engineer:t1:a1", kind="notice", text="retrying in 2 s"))
        paused = "merging paused before task t2: integration branch is checked out in /r"
        bus.emit(AgentOutput(agent_id="merge-queue", kind="notice", text=paused))
        await caught_up(app, bus, pilot)
        said = [n.message for n in app._notifications]  # type: ignore[attr-defined]
        assert said == [paused]


async def test_ctrl_c_stops_the_run_as_it_does_headless() -> None:
    """In the TUI, Ctrl-C is a key, not a signal: Textual answered it with a hint to press
    ctrl+q, against the README's "Ctrl-C stops gracefully". It quits as ``q`` does, with
    the interrupted exit code; the run stays resumable."""
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        sample_run.start(bus)
        await caught_up(app, bus, pilot)
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.leaving
        assert [n.message for n in app._notifications] == []  # type: ignore[attr-defined]
    assert app.return_code == 130
