"""A run that had finished before the view opened gets no "run finished" toast.

In tmux at 80x24, ``shopfloor attach`` on a shipped run put the 30-second "run finished"
notice over four lines of the log the user came to read, though the header already said
"shipped → branch" on its green bar. A run that ends while watched keeps the notice: that
is news.
"""

from __future__ import annotations

import sample_run
from pilot_helpers import caught_up, sample_app

from engine.bus import EventBus
from tui.app import ShopfloorApp


def finished_notices(app: ShopfloorApp) -> list[str]:
    notices = app._notifications  # type: ignore[attr-defined]
    return [n.message for n in notices if n.title == "run finished"]


async def test_a_run_finished_before_the_view_opened_gets_no_toast_over_its_log() -> None:
    bus = EventBus(sample_run.RUN_ID)
    source = bus.subscribe("tui")
    sample_run.whole_run(bus)  # stored and over, as attach reads it
    app = ShopfloorApp(source)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await caught_up(app, bus, pilot)
        await pilot.pause()
        assert app.finished
        assert finished_notices(app) == []
        assert "shipped" in str(app.screen.query_one("RunHeader").render())


async def test_a_run_that_ends_while_watched_is_still_announced() -> None:
    async with sample_app(sample_run.whole_run, notifications=True) as (app, pilot):
        await pilot.pause()
        assert finished_notices(app) == [f"run {sample_run.RUN_ID} shipped → {app.state.branch}"]
