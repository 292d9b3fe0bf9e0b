"""At 60 columns the run screen's key bar keeps "q Quit" and "? Help", and cuts no key.

In tmux at 60x20 the bar needs 80 cells (72 compact) and ended at "/ Search log": q and ?
came last, after the screen's own keys, and were off the screen; the help (?) lists the
keys the bar cannot show. Then it ended "/ Sea": it now drops the keys that do not fit.
"""

from __future__ import annotations

import sample_run
from pilot_helpers import sample_app, until
from test_footer_fits_80 import bar_words, keys_cut_off


async def test_quit_and_help_stay_on_a_60_column_key_bar() -> None:
    async with sample_app(sample_run.whole_run, (60, 20)) as (app, pilot):
        for _ in range(2):  # pinned and not
            # the footer lays its keys out on a later refresh (a loaded CI read it empty)
            await until(lambda: bool(bar_words(app)), pilot)
            assert "Quit" in bar_words(app) and "Help" in bar_words(app)
            assert keys_cut_off(app) == []
            await pilot.press("p")
            await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
    assert app.leaving  # q still quits
