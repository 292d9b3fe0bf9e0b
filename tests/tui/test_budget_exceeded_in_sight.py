"""A budget exceeded is said where an 80-column budget line still shows it.

With both budgets set the budget line is 140 cells; "cost budget exceeded" came last, and
at 80 columns (and at 120) the line ended "tokens 4.8k in / 1.2k out ██████…": the words
that says why the run waits was cut off.
"""

from __future__ import annotations

import sample_run
from pilot_helpers import caught_up

from engine.bus import EventBus
from engine.events import BudgetUpdated
from tui.app import ShopfloorApp
from tui.widgets.run_header import BudgetStrip


async def test_an_exceeded_budget_shows_on_an_80_column_line() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(80, 24)) as pilot:
        sample_run.start(bus)
        sample_run.build(bus)
        bus.emit(
            BudgetUpdated(
                tokens=460_000, cost_usd=5.02, max_tokens=500_000, max_cost_usd=5.0, exceeded="cost"
            )
        )
        await caught_up(app, bus, pilot)
        strip = app.screen.query_one(BudgetStrip)
        shown = strip.render_line(0).text
        assert "SIM  cost budget exceeded  merged 3/3" in shown, shown
        assert strip.has_class("-exceeded")
        bus.emit(BudgetUpdated(tokens=460_000, cost_usd=5.02, max_tokens=500_000, max_cost_usd=9.0))
        await caught_up(app, bus, pilot)  # raised: no longer said
        assert "exceeded" not in strip.render_line(0).text
