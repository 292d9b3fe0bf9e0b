"""A long agent line folds onto the rows below it instead of losing its end.

At 80 and 100 columns the log showed ``FAILED tests/test_pricing.py::test_disc`` and
nothing after: a failing test's name, a path, cut at the log's right edge (reachable only
by scrolling sideways, which nothing on the screen hinted at).
"""

from __future__ import annotations

import pytest
import sample_run
from pilot_helpers import caught_up

from engine.bus import EventBus
from engine.events import AgentOutput
from tui.app import ShopfloorApp
from tui.widgets.agent_log import AgentLog
from tui.widgets.line_view import LineView, row_starts

T1 = sample_run.engineer_id("t1", 1)
FAILED = (
    "! FAILED tests/test_pricing.py::test_discount_rounds_half_up_on_the_line_total"
    " - AssertionError: Decimal('10.04') != Decimal('10.05')"
)
PROGRESS = "." * 40 + " " * 34 + "[100%]"  # pytest pads its progress to its own width
PATH = "> wrote " + "/".join(["inventory"] * 12) + "/reports.py (68 lines)"


def rows(app: ShopfloorApp) -> list[str]:
    view = app.screen.query_one(AgentLog).query_one(LineView)
    drawn = [view.render_line(y).text.rstrip() for y in range(view.size.height)]
    while drawn and not drawn[-1]:
        drawn.pop()
    return drawn


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 40)])
async def test_a_long_line_is_read_whole_at_any_width(size: tuple[int, int]) -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=size) as pilot:
        sample_run.start(bus)
        sample_run.attempt(bus, "t1", 1, ["Running the pricing tests."], passes=False)
        bus.emit(AgentOutput(agent_id=T1, text=f"{FAILED}\n{PATH}\nthe end"))
        await caught_up(app, bus, pilot)
        drawn = rows(app)
        view = app.screen.query_one(AgentLog).query_one(LineView)
        assert view.virtual_size.width <= view.size.width  # nothing to scroll sideways to
        assert max(map(len, drawn)) <= view.size.width
        # Every character is drawn once, in order: the rows put together give the lines.
        assert (
            "".join(drawn).replace(" ", "").endswith((FAILED + PATH + "the end").replace(" ", ""))
        )
        assert drawn[-1].strip() == "the end"


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_a_progress_line_folds_without_a_row_of_padding(size: tuple[int, int]) -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=size) as pilot:
        sample_run.start(bus)
        sample_run.attempt(bus, "t1", 1, ["Running the pricing tests."], passes=True)
        bus.emit(AgentOutput(agent_id=T1, text=f"{PROGRESS}\nthe end"))
        await caught_up(app, bus, pilot)
        drawn = rows(app)
        assert drawn[-3:] == ["." * 40, "[100%]", "the end"]


async def test_a_narrower_log_folds_again_and_keeps_following_the_end() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(120, 40)) as pilot:
        sample_run.start(bus)
        sample_run.attempt(bus, "t1", 1, [FAILED] * 30, passes=False)
        await caught_up(app, bus, pilot)
        view = app.screen.query_one(AgentLog).query_one(LineView)
        wide = view.virtual_size.height
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.3)
        assert view.virtual_size.height > wide
        assert view.is_vertical_scroll_end
        assert max(map(len, rows(app))) <= view.size.width


def test_rows_break_after_a_space_in_their_second_half_else_at_the_width() -> None:
    assert row_starts("short", 10) == [0]
    assert row_starts("aaaa bbbb cccc", 10) == [0, 10]  # "aaaa bbbb " | "cccc"
    assert row_starts("a bbbbbbbbbbbbbbbbbb", 10) == [0, 10]  # the space too early: cut
    assert row_starts("aaaaaaaaaa bbb", 10) == [0, 11]  # no row starts with a space
    assert row_starts("漢字漢字漢字", 5) == [0, 2, 4]  # wide characters: two cells each


def test_no_row_starts_with_the_padding_at_its_break() -> None:
    assert row_starts("aaaaaaaaa    bbb", 10) == [0, 13]  # "aaaaaaaaa " (spaces cropped) | "bbb"
    assert row_starts("." * 10 + " " * 25 + "[100%]", 10) == [0, 35]  # not three blank rows
    assert row_starts("aaaaaaaaaa     ", 10) == [0]  # trailing padding folds nothing
    assert row_starts("  aaaaaaaa bbbb", 10) == [0, 11]  # a line's own indent is kept
