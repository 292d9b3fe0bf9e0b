"""Toasts on the run screen stand over the agent log's lines, not over what a person acts on.

At 100x30 Textual's rack put a toast at the bottom right, half the screen wide: over the
agents panel's edge, the budget strip's tokens and cost and the log's last rows, for the 30 s
of a start-up warning. The rack now stands within the log's lines, and a toast has no blank
rows around its words.
"""

from __future__ import annotations

import pytest
import sample_run
from pilot_helpers import caught_up
from textual.widgets import Footer, Input

from engine.bus import EventBus
from tui.app import ShopfloorApp
from tui.widgets.agent_log import AgentLog
from tui.widgets.agent_table import AgentTable
from tui.widgets.line_view import LineView
from tui.widgets.pipeline_strip import EscalationBanner
from tui.widgets.run_header import BudgetStrip, TextLine

WARNING = "python for the tests and mypy: /tmp/h/.venv/bin/python (Python 3.11.7, its own)"


@pytest.mark.parametrize("size", [(100, 30), (80, 24), (120, 40)])
async def test_toasts_leave_the_agent_rows_and_the_keys_in_view(size: tuple[int, int]) -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=size, notifications=True) as pilot:
        app.notify(WARNING, severity="warning", timeout=30)
        app.notify("the merge queue waits for the checkout", title="merger", timeout=30)
        sample_run.full_pipeline(bus)
        await caught_up(app, bus, pilot)
        screen = app.screen
        log = screen.query_one(AgentLog)
        lines = log.query_one(LineView).region
        kept = {
            "agent rows": screen.query_one(AgentTable).region,
            "log title": log.query_one(".agent-log--title", TextLine).region,
            "budget": screen.query_one(BudgetStrip).region,
            "banner": screen.query_one(EscalationBanner).region,
            "keys": screen.query_one(Footer).region,
        }
        toasts = [toast.region for toast in screen.query("Toast")]
        assert len(toasts) == 2, "the toasts are not shown"
        for toast in toasts:
            assert lines.contains_region(toast), (toast, lines)
            for what, region in kept.items():
                assert not toast.overlaps(region), (what, toast, region)
        if size == (100, 30):
            # The warning's words on three rows: no blank row above or below them.
            assert max(toast.height for toast in toasts) == 3, toasts
            # The log's search box opens below its lines, which the toasts follow.
            log.focus()
            await pilot.press("slash")
            await pilot.pause(0.3)
            search = log.query_one(Input).region
            assert search
            for toast in screen.query("Toast"):
                assert not toast.region.overlaps(search), (toast.region, search)


async def test_more_toasts_than_the_log_has_lines_for_rise_no_higher_than_them() -> None:
    """Toasts come in a burst at start-up (a warning per tool): the rack grows no higher
    than the log's lines, so the log's title and the agent rows above stay in view."""
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        sample_run.full_pipeline(bus)
        await caught_up(app, bus, pilot)
        for n in range(8):
            app.notify(f"{WARNING} #{n}", severity="warning", timeout=30)
        await pilot.pause(0.3)
        screen = app.screen
        log = screen.query_one(AgentLog)
        lines = log.query_one(LineView).region
        shown = [toast.region for toast in screen.query("Toast") if toast.region]
        assert len(shown) >= 2, "the toasts are not shown"
        title = log.query_one(".agent-log--title", TextLine).region
        for toast in shown:  # those the rack holds below its last row scroll, unseen
            assert toast.y >= lines.y and not toast.overlaps(title), (toast, lines, title)
