"""At 60 columns the escalation dialog's key bar keeps every key it shows, "? Help" last.

At 60x20 the dialog was 54 columns wide and a review question's bar ("a Approve r Reject
c Revise n Next esc Close ? Help", 58 cells) had 50 of them: it ended at "esc Close", and
the help was off it. Below 80 columns the dialog takes the width and its bar the compact
style.
"""

from __future__ import annotations

import pytest
import sample_run
from pilot_helpers import until
from test_dialog_keys_match_commands import ASKED, ask
from test_footer_fits_80 import keys_cut_off
from textual.widgets import Footer

from engine.bus import EventBus
from tui.app import ShopfloorApp


@pytest.mark.parametrize("kind", list(ASKED))
async def test_every_key_of_the_dialog_stays_on_a_60_column_key_bar(kind: str) -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(60, 20)) as pilot:
        await ask(app, bus, pilot, kind, waiting=2)  # two wait: "n Next" is on the bar

        def shown() -> list[str]:
            return [str(key.description) for key in app.screen.query_one(Footer).children]

        # the footer takes the dialog's keys on a later refresh than the dialog's own
        await until(lambda: "Help" in shown(), pilot)
        assert {"Next", "Close", "Help"} <= set(shown())
        assert keys_cut_off(app) == []
