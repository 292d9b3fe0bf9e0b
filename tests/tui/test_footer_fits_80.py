"""At 80 columns the run screen's key bar keeps "? Help" whole, pinned or not.

In tmux at 80x24, pinning the log turned "p Pin log" into "p Unpin log" and the bar ended
"? Hel": the bar is exactly 80 cells unpinned.
"""

from __future__ import annotations

import sample_run
from pilot_helpers import sample_app
from textual.widgets import Footer

from tui.app import ShopfloorApp


def keys_cut_off(app: ShopfloorApp) -> list[str]:
    """The key bar's keys that end past its right edge: the screen's, or a dialog's."""
    footer = app.screen.query_one(Footer)
    right = min(footer.region.right, app.screen.size.width)
    return [str(key.description) for key in footer.children if key.region.right > right]


async def test_help_stays_on_an_80_column_key_bar_when_the_log_is_pinned() -> None:
    async with sample_app(sample_run.whole_run) as (app, pilot):
        assert keys_cut_off(app) == []
        await pilot.press("p")
        await pilot.pause()
        assert keys_cut_off(app) == []
        descriptions = [str(key.description) for key in app.screen.query_one(Footer).children]
        assert "Unpin" in descriptions and "Help" in descriptions
