"""Every key bar shows whole keys only, "? Help" among them, and "…" when it dropped some.

At 60x20 the run screen's bar ended "/ Sea" (half of "/ Search log", "f Filter" gone
without a word) and a followed run's "/ Search log f Fil": Textual's Footer lets the
terminal's edge cut its last keys. The bar now keeps the keys in their bound order while
they fit whole and ends with "…"; at 80 columns it shows what it showed before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import sample_run
from pilot_helpers import recording_app, sample_app, until
from test_dialog_keys_match_commands import ask
from test_footer_fits_80 import bar_words, keys_cut_off
from test_tui_edge_cases import LiveHistory
from textual.pilot import Pilot
from textual.widgets import DataTable

from engine.bus import EventBus
from tui.app import ShopfloorApp
from tui.screens.runs import FollowedRunScreen, ReplayScreen, RunsScreen

Opened = AsyncIterator[tuple[ShopfloorApp, Pilot[None]]]

RUN = ("Quit", "Help", "Escalations", "Next agent")
BOTH = ("60x20", "80x24")
SHOWN: dict[str, dict[str, tuple[str, ...]]] = {  # screen -> size -> the bar's words
    "main": {
        "60x20": (*RUN, "Pin log", "…"),
        "80x24": (*RUN, "Pin log", "Search log", "Filter"),
    },
    "main pinned": {
        "60x20": (*RUN, "Unpin", "…"),
        "80x24": (*RUN, "Unpin", "Search log", "Filter"),
    },
    "followed run": {
        "60x20": ("Quit", "Help", "Escalations", "Pin log", "Search log", "…"),
        "80x24": ("Quit", "Help", "Escalations", "Pin log", "Search log", "Filter", "Runs"),
    },
    "replay": dict.fromkeys(BOTH, ("Play", "Quit", "Help", "Step", "Back", "Runs")),
    "escalation": dict.fromkeys(BOTH, ("Approve", "Reject", "Revise", "Next", "Close", "Help")),
    "runs": dict.fromkeys(BOTH, ("Back", "Reload", "Quit", "Help", "palette")),
    "plan": dict.fromkeys(BOTH, ("Back", "Help", "palette")),
    "task detail": dict.fromkeys(BOTH, ("Back", "Help", "palette")),
}


@asynccontextmanager
async def run_screen(size: tuple[int, int], *keys: str) -> Opened:
    async with sample_app(sample_run.whole_run, size) as (app, pilot):
        await pilot.press(*keys)
        yield app, pilot


@asynccontextmanager
async def replay(size: tuple[int, int]) -> Opened:
    app = ShopfloorApp(EventBus(sample_run.RUN_ID).subscribe("tui"))
    async with app.run_test(size=size) as pilot:
        await app.push_screen(ReplayScreen(sample_run.recorded()))
        yield app, pilot


@asynccontextmanager
async def history(size: tuple[int, int], follow: bool) -> Opened:
    app = recording_app(EventBus("r-main"), [], store=LiveHistory())
    async with app.run_test(size=size) as pilot:
        await pilot.press("R")
        await until(lambda: isinstance(app.screen, RunsScreen), pilot)
        await until(lambda: app.screen.query_one(DataTable).row_count == 1, pilot)
        if follow:
            await pilot.press("enter")
            await until(lambda: isinstance(app.screen, FollowedRunScreen), pilot)
        yield app, pilot


@asynccontextmanager
async def escalation(size: tuple[int, int]) -> Opened:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=size) as pilot:
        await ask(app, bus, pilot, "review", waiting=2)  # two wait: "n Next" is on the bar
        yield app, pilot


OPEN: dict[str, Callable[[tuple[int, int]], Opened]] = {
    "main": run_screen,
    "main pinned": lambda size: run_screen(size, "p"),
    "followed run": lambda size: history(size, follow=True),
    "replay": replay,
    "escalation": escalation,
    "runs": lambda size: history(size, follow=False),
    "plan": lambda size: run_screen(size, "b"),
    "task detail": lambda size: run_screen(size, "j", "enter"),
}


@pytest.mark.parametrize("size", BOTH)
@pytest.mark.parametrize("screen", list(SHOWN))
async def test_the_key_bar_shows_whole_keys_and_help(screen: str, size: str) -> None:
    width, height = map(int, size.split("x"))
    async with OPEN[screen]((width, height)) as (app, pilot):
        # the footer lays its keys out on a later refresh than the screen's own
        await until(lambda: tuple(bar_words(app)) == SHOWN[screen][size], pilot)
        assert keys_cut_off(app) == []


async def test_help_stays_when_the_keys_before_it_do_not_fit() -> None:
    """The dialog binds "? Help" last: at 50 columns "esc Close" gives way, not the help."""
    async with escalation((50, 20)) as (app, pilot):
        await until(lambda: "Help" in bar_words(app), pilot)
        assert bar_words(app) == ["Approve", "Reject", "Revise", "Next", "Help", "…"]
        assert keys_cut_off(app) == []


async def test_the_dropped_keys_come_back_when_the_terminal_widens() -> None:
    async with run_screen((80, 24)) as (app, pilot):
        await until(lambda: tuple(bar_words(app)) == SHOWN["main"]["80x24"], pilot)
        await pilot.resize_terminal(60, 20)
        await until(lambda: tuple(bar_words(app)) == SHOWN["main"]["60x20"], pilot)
        assert keys_cut_off(app) == []
        await pilot.resize_terminal(80, 24)
        await until(lambda: tuple(bar_words(app)) == SHOWN["main"]["80x24"], pilot)
