"""The budget strip says the run's time against its time budget (``--max-duration``), red
from nine tenths on and when crossed; a run without one says nothing of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sample_run
from pilot_helpers import caught_up

from engine.bus import EventBus
from engine.events import BudgetUpdated
from tui.app import ShopfloorApp
from tui.commands.history import spend_text
from tui.widgets.run_header import BudgetStrip, budget_text


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 22, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_the_strip_shows_the_driven_time_against_the_time_budget() -> None:
    clock = Clock()
    bus = EventBus(sample_run.RUN_ID, clock=clock)
    sample_run.start(bus)
    clock.now += timedelta(hours=4)
    bus.emit(BudgetUpdated(tokens=10, cost_usd=0.0, duration_s=4 * 3600, max_duration_s=8 * 3600))
    text = budget_text(bus.state)
    assert "  agents " in text.plain and "  time 4h ████░░░░ of 8h  tokens " in text.plain
    assert "red" not in {str(span.style) for span in text.spans}

    clock.now += timedelta(hours=4, minutes=10)
    bus.emit(BudgetUpdated(tokens=10, cost_usd=0.0, max_duration_s=8 * 3600, exceeded="time"))
    text = budget_text(bus.state)
    assert "SIM  time budget exceeded  merged" in text.plain, text.plain
    assert "  time 8h10m ████████ of 8h  tokens " in text.plain, text.plain
    assert "red" in {str(span.style) for span in text.spans}


def test_a_run_without_a_time_budget_says_nothing_of_time() -> None:
    bus = EventBus(sample_run.RUN_ID)
    sample_run.start(bus)
    bus.emit(BudgetUpdated(tokens=10, cost_usd=0.0, max_tokens=100))
    assert " time " not in budget_text(bus.state).plain


def test_status_says_the_time_budget_with_the_run_s_other_limits() -> None:
    """``status``'s plain text: the run's limits once, as ``limits_text`` says them ("run
    $10.00, 8h of time (4h driven)"), not the run named twice."""
    clock = Clock()
    bus = EventBus(sample_run.RUN_ID, clock=clock)
    sample_run.start(bus)
    clock.now += timedelta(hours=4)
    bus.emit(
        BudgetUpdated(
            tokens=10, cost_usd=1.0, max_cost_usd=10.0, duration_s=4 * 3600,
            max_duration_s=8 * 3600,
        )
    )  # fmt: skip
    said = spend_text(bus.state)
    assert said.endswith("; budget: run $10.00, 8h of time (4h driven)"), said


async def test_the_time_against_its_budget_shows_on_an_80_column_line() -> None:
    """After the agents, before tokens and cost: at their end it began at column 95."""
    began = datetime.now(UTC) - timedelta(hours=4)  # a live run's time runs to now
    bus = EventBus(sample_run.RUN_ID, clock=lambda: began)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(80, 24)) as pilot:
        sample_run.start(bus)
        sample_run.build(bus)
        bus.emit(
            BudgetUpdated(tokens=10, cost_usd=0.0, duration_s=4 * 3600, max_duration_s=8 * 3600)
        )
        await caught_up(app, bus, pilot)
        shown = app.screen.query_one(BudgetStrip).render_line(0).text
        assert "  time 4h" in shown and " ████░░░░ of 8h" in shown, shown


async def test_a_live_run_s_strip_counts_its_time_to_now() -> None:
    """Followed live, the strip's time runs on between events (a night waiting on a person's
    answer logs nothing): its events four hours ago, it says 4h, not their 0s."""
    began = datetime.now(UTC) - timedelta(hours=4)
    bus = EventBus(sample_run.RUN_ID, clock=lambda: began)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(120, 24)) as pilot:
        sample_run.start(bus)
        bus.emit(BudgetUpdated(tokens=10, cost_usd=0.0, max_duration_s=8 * 3600))
        await caught_up(app, bus, pilot)
        shown = app.screen.query_one(BudgetStrip).render_line(0).text
        assert "  time 4h" in shown and " of 8h" in shown, shown


async def test_the_strip_is_redrawn_each_second_only_for_a_run_with_a_time_budget() -> None:
    """Without a time budget nothing on the line moves between events: the clock's tick
    leaves it be (it redrew every run's line each second); with one, the tick counts on."""
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(120, 24)) as pilot:
        sample_run.start(bus)
        bus.emit(BudgetUpdated(tokens=10, cost_usd=0.0, max_tokens=100))
        await caught_up(app, bus, pilot)
        strip = app.screen.query_one(BudgetStrip)
        drawn: list[str] = []
        strip.show_text = lambda text: drawn.append(text.plain)  # type: ignore[method-assign]
        app.screen._clock_budget()  # type: ignore[attr-defined]
        assert drawn == []
        bus.emit(BudgetUpdated(tokens=10, cost_usd=0.0, max_tokens=100, max_duration_s=3600))
        await caught_up(app, bus, pilot)
        drawn.clear()
        app.screen._clock_budget()  # type: ignore[attr-defined]
        assert len(drawn) == 1 and " of 1h" in drawn[0], drawn
