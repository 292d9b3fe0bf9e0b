"""At 80 columns the run screen's key bar keeps "? Help" whole, pinned or not.

In tmux at 80x24, pinning the log turned "p Pin log" into "p Unpin log" and the bar ended
"? Hel": the bar is exactly 80 cells unpinned.
"""

from __future__ import annotations

import sample_run
from pilot_helpers import recording_app, sample_app, until
from test_tui_edge_cases import LiveHistory
from textual.widget import Widget
from textual.widgets import DataTable, Footer

from engine.bus import EventBus
from tui.app import ShopfloorApp
from tui.screens.runs import FollowedRunScreen, RunsScreen


def keys_cut_off(app: ShopfloorApp) -> list[str]:
    """The key bar's keys that end past its right edge: the screen's, or a dialog's."""
    footer = app.screen.query_one(Footer)
    right = min(footer.region.right, app.screen.size.width)
    return [words(key) for key in footer.children if key.region.right > right]


def bar_words(app: ShopfloorApp) -> list[str]:
    """What the key bar says, in its order: each key's description, and its "…"."""
    return [words(key) for key in app.screen.query_one(Footer).children]


def words(child: Widget) -> str:
    """A key's description, or what the key bar's other child (its "…") shows."""
    return str(getattr(child, "description", None) or child.render())


async def test_help_stays_on_an_80_column_key_bar_when_the_log_is_pinned() -> None:
    async with sample_app(sample_run.whole_run) as (app, pilot):
        assert keys_cut_off(app) == []
        await pilot.press("p")
        await pilot.pause()
        assert keys_cut_off(app) == []
        descriptions = [str(key.description) for key in app.screen.query_one(Footer).children]
        assert "Unpin" in descriptions and "Help" in descriptions


async def test_a_followed_run_keeps_its_way_back_on_an_80_column_key_bar() -> None:
    """A live run opened from the history put "esc Back to runs" after the run screen's 80
    cells of keys: off the bar at 80 columns."""
    app = recording_app(EventBus("r-main"), [], store=LiveHistory())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("R")
        await until(lambda: isinstance(app.screen, RunsScreen), pilot)
        await until(lambda: app.screen.query_one(DataTable).row_count == 1, pilot)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, FollowedRunScreen), pilot)
        for _ in range(2):  # pinned and not
            await until(lambda: "escape" in dict(shown(app)), pilot)
            assert {"Quit", "Help"} <= set(dict(shown(app)).values())
            assert keys_cut_off(app) == []
            await pilot.press("p")
            await pilot.pause()


def shown(app: ShopfloorApp) -> list[tuple[str, str]]:
    """(key, description) of each key the key bar names, in its order."""
    return [(key.key, str(key.description)) for key in app.screen.query_one(Footer).children]
