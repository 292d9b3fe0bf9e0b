"""The replay's space, home and end do what the help says with the graph focused.

In tmux, a replay opened from the runs history stood still on space, home and end: the
task graph has the focus, and a Tree's own keys (space folds a level, home and end scroll)
took them first. A search typed in the log still gets its spaces.
"""

from __future__ import annotations

import sample_run

from engine.bus import EventBus
from tui.app import ShopfloorApp
from tui.screens.runs import ReplayScreen
from tui.widgets.agent_log import AgentLog
from tui.widgets.dag_view import DagView


async def test_space_home_and_end_step_the_replay_with_the_graph_focused() -> None:
    app = ShopfloorApp(EventBus(sample_run.RUN_ID).subscribe("tui"))
    async with app.run_test(size=(80, 24)) as pilot:
        replay = ReplayScreen(sample_run.recorded())
        await app.push_screen(replay)
        await pilot.pause()
        assert isinstance(replay.focused, DagView)
        assert replay.position == replay.steps > 1
        await pilot.press("home")
        assert replay.position == 0
        await pilot.press("end")
        assert replay.position == replay.steps
        await pilot.press("home", "space")
        assert replay.playing
        await pilot.press("space")
        assert not replay.playing


async def test_a_search_box_still_takes_a_space() -> None:
    app = ShopfloorApp(EventBus(sample_run.RUN_ID).subscribe("tui"))
    async with app.run_test(size=(80, 24)) as pilot:
        replay = ReplayScreen(sample_run.recorded())
        await app.push_screen(replay)
        await pilot.pause()
        await pilot.press("slash", "a", "space", "b", "home")
        log = replay.query_one(AgentLog)
        assert log.search_box.value == "a b"
        assert log.search_box.cursor_position == 0  # home moved the box's cursor
        assert not replay.playing and replay.position == replay.steps
