"""The replay's space, home and end do what the help says with the graph focused.

In tmux, a replay opened from the runs history stood still on space, home and end: the
task graph has the focus, and a Tree's own keys (space folds a level, home and end scroll)
took them first. A search typed in the log still gets its spaces.
"""

from __future__ import annotations

import pytest
import sample_run
from pilot_helpers import until
from test_footer_fits_80 import keys_cut_off
from textual.widgets import Footer

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


@pytest.mark.parametrize("size", [(60, 20), (80, 24)], ids=lambda s: "x".join(map(str, s)))
async def test_the_replay_keys_stay_on_the_key_bar(size: tuple[int, int]) -> None:
    """The replay's keys came after the live run's on its key bar: at 80x24 it ended at
    "/ Sea", without "esc Back to runs"; at 60x20 at "] Next age", without a step key."""
    app = ShopfloorApp(EventBus(sample_run.RUN_ID).subscribe("tui"))
    async with app.run_test(size=size) as pilot:
        await app.push_screen(ReplayScreen(sample_run.recorded()))

        def shown() -> list[str]:
            return [str(key.description) for key in app.screen.query_one(Footer).children]

        # the footer lays its keys out on a later refresh than the screen's own
        await until(lambda: "Step" in shown(), pilot)
        assert {"Play", "Step", "Back", "Runs", "Quit", "Help"} <= set(shown())
        assert keys_cut_off(app) == []
