"""Pilot tests of the agent log: switching agents, hidden agents' lines, bounds and search."""

from __future__ import annotations

import sample_run
from pilot_helpers import caught_up, layouts_of, screen_quiet
from rich.text import Text
from textual.widgets import Log

from engine.bus import EventBus
from engine.events import AgentOutput, AgentStarted
from tui.app import ShopfloorApp
from tui.screens.runs import ReplayScreen
from tui.widgets.agent_log import AgentLog
from tui.widgets.agent_table import AgentTable
from tui.widgets.line_view import LineView

SIZE = (120, 40)
NEXT, PREVIOUS = "right_square_bracket", "left_square_bracket"

T1 = sample_run.engineer_id("t1", 1)
T2_FIRST = sample_run.engineer_id("t2", 1)
T2_SECOND = sample_run.engineer_id("t2", 2)
T3 = sample_run.engineer_id("t3", 1)


def agent_log(app: ShopfloorApp) -> AgentLog:
    return app.screen.query_one(AgentLog)


def on_screen(app: ShopfloorApp) -> list[str]:
    """The log lines as drawn in the log's window (blank rows left out)."""
    view = app.screen.query_one(AgentLog).query_one(LineView)
    rows = (view.render_line(y).text.rstrip() for y in range(view.size.height))
    return [row for row in rows if row]


def marked(app: ShopfloorApp, index: int) -> str:
    """The text drawn with the search highlight in line ``index`` of the shown log."""
    view = app.screen.query_one(AgentLog).query_one(LineView)
    strip = view.render_line(index - view.scroll_offset.y)
    return "".join(s.text for s in strip if s.style is not None and s.style.reverse)


async def test_switching_agents_shows_each_agents_own_lines() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        sample_run.build(bus)
        await caught_up(app, bus, pilot)
        expected = {
            T1: sample_run.T1_LINES,
            T2_FIRST: sample_run.T2_FIRST_LINES,
            T2_SECOND: sample_run.T2_SECOND_LINES,
            T3: sample_run.T3_LINES,
        }
        assert agent_log(app).agent_id == T1
        assert on_screen(app) == sample_run.T1_LINES

        for agent_id in (T2_FIRST, T2_SECOND, T3, T1):
            await pilot.press(NEXT)
            assert agent_log(app).agent_id == agent_id
            assert on_screen(app) == expected[agent_id]
            assert app.screen.query_one(AgentTable).highlighted_agent_id == agent_id
            title = str(app.screen.query_one(".agent-log--title").content)  # type: ignore[attr-defined]
            assert agent_id in title and "SIM" in title

        await pilot.press(PREVIOUS)
        assert agent_log(app).agent_id == T3
        assert on_screen(app) == sample_run.T3_LINES


async def test_a_hidden_agents_new_lines_appear_when_it_is_shown() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        sample_run.attempt(bus, "t1", 1, ["t1 first"], passes=True)
        sample_run.attempt(bus, "t2", 1, ["t2 first"], passes=True)
        await caught_up(app, bus, pilot)
        assert agent_log(app).agent_id == T1

        bus.emit(AgentOutput(agent_id=T2_FIRST, text="t2 while hidden\nand more"))
        await caught_up(app, bus, pilot)
        assert on_screen(app) == ["t1 first"]

        await pilot.press(NEXT)
        assert on_screen(app) == ["t2 first", "t2 while hidden", "and more"]

        # The agent now shown keeps streaming; the one left behind keeps collecting.
        bus.emit(AgentOutput(agent_id=T2_FIRST, text="t2 on screen"))
        bus.emit(AgentOutput(agent_id=T1, kind="error", text="t1 while hidden"))
        await caught_up(app, bus, pilot)
        assert on_screen(app) == ["t2 first", "t2 while hidden", "and more", "t2 on screen"]

        await pilot.press(PREVIOUS)
        assert on_screen(app) == ["t1 first", "! t1 while hidden"]


async def test_one_view_serves_every_agent_and_holds_at_most_max_lines() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"), max_lines=50)
    agents = [sample_run.engineer_id("t1", n) for n in range(1, 13)]
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        for n, agent_id in enumerate(agents, start=1):
            bus.emit(
                AgentStarted(
                    agent_id=agent_id, role="engineer", model="sim:", task_id="t1", attempt=n
                )
            )
            for i in range(80):
                bus.emit(AgentOutput(agent_id=agent_id, text=f"{agent_id} line {i}"))
        await caught_up(app, bus, pilot)

        for agent_id in agents * 2:
            while agent_log(app).agent_id != agent_id:
                await pilot.press(NEXT)
            kept = [f"{agent_id} line {i}" for i in range(30, 80)]
            assert list(agent_log(app).lines) == kept
            window = on_screen(app)
            assert window and window == kept[-len(window) :]
            # One view for every agent, and no Log holding copies of anybody's lines.
            assert len(app.screen.query(LineView)) == 1
            assert not app.screen.query(Log)

        # A full log still follows its agent: the oldest lines make way for the newest.
        shown = agent_log(app).agent_id
        assert shown is not None
        bus.emit(AgentOutput(agent_id=shown, text="newest"))
        await caught_up(app, bus, pilot)
        assert len(agent_log(app).lines) == 50
        assert agent_log(app).lines[0] == f"{shown} line 31"
        assert on_screen(app)[-1] == "newest"


async def test_search_works_on_the_agent_shown_after_a_switch() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        sample_run.attempt(bus, "t1", 1, ["alpha one", "beta", "Alpha two"], passes=True)
        sample_run.attempt(
            bus, "t2", 1, ["gamma", "alpha three", "delta", "alpha four"], passes=True
        )
        await caught_up(app, bus, pilot)
        log = agent_log(app)

        await pilot.press("slash", *"alpha", "enter")
        assert log.search_term == "alpha"
        assert log.current_match == 2  # the latest match, case ignored
        assert marked(app, 2) == "Alpha"

        await pilot.press(NEXT)
        assert log.agent_id == T2_FIRST
        assert log.matching_lines() == [1, 3]
        assert marked(app, 1) == "alpha" and marked(app, 0) == ""
        await pilot.press("n")
        assert log.current_match == 1
        await pilot.press("n")
        assert log.current_match == 3
        await pilot.press("N")
        assert log.current_match == 1

        await pilot.press("escape")
        assert log.search_term == ""
        assert marked(app, 1) == ""


async def test_a_replayed_log_follows_the_steps() -> None:
    events = sample_run.recorded()
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        replay = ReplayScreen(events, start_at_end=False)
        await app.push_screen(replay)
        await pilot.pause()
        # Step 6 is t1's engineer starting; its output is folded with the next step.
        await pilot.press(*"lllll")
        assert replay.query_one(AgentLog).agent_id == T1
        assert on_screen(app) == []
        await pilot.press("l")
        assert on_screen(app) == sample_run.T1_LINES
        await pilot.press("h")
        assert replay.query_one(AgentLog).agent_id == T1
        assert on_screen(app) == []


async def test_a_growing_log_follows_its_end_and_scrollbar_without_laying_the_screen_out() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        sample_run.attempt(bus, "t1", 1, ["first"], passes=True)
        # More lines than the view is high: its scrollbar appears, which needs a layout.
        bus.emit(AgentOutput(agent_id=T1, text="\n".join(f"line {i}" for i in range(40))))
        await caught_up(app, bus, pilot)
        view = agent_log(app).query_one(LineView)
        assert view.show_vertical_scrollbar
        batches = 1
        await screen_quiet(pilot)
        with layouts_of(app.screen) as layouts:
            for _ in range(3):
                text = "\n".join(f"line {batches}.{i}" for i in range(40))
                bus.emit(AgentOutput(agent_id=T1, text=text))
                batches += 1
                await caught_up(app, bus, pilot)
                assert view.virtual_size.height == 1 + 40 * batches
                assert view.vertical_scrollbar.window_virtual_size == view.virtual_size.height
                assert view.is_vertical_scroll_end
                assert on_screen(app)[-1] == f"line {batches - 1}.39"
            await screen_quiet(pilot)  # a late layout the lines caused is counted too
        assert layouts == [0]


async def test_the_log_says_which_match_of_how_many_the_search_is_on() -> None:
    # In tmux, n went from match to match, and round to the first again, with nothing
    # saying where it was or how many there were.
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        sample_run.attempt(bus, "t1", 1, ["alpha one", "beta", "Alpha two"], passes=True)
        sample_run.attempt(bus, "t2", 1, ["gamma", "delta"], passes=True)
        await caught_up(app, bus, pilot)
        log = agent_log(app)
        assert log.border_subtitle is None

        await pilot.press("slash", *"alpha", "enter")
        assert said_below(log) == '"alpha": 2/2'  # the latest match
        await pilot.press("n")
        assert said_below(log) == '"alpha": 1/2'  # round to the first
        bus.emit(AgentOutput(agent_id=sample_run.engineer_id("t1", 1), text="alpha three"))
        await caught_up(app, bus, pilot)
        assert said_below(log) == '"alpha": 1/3'
        await pilot.press(NEXT)  # an agent without the word
        assert said_below(log) == '"alpha": no match'
        await pilot.press("escape")
        assert log.border_subtitle is None


async def test_a_search_that_finds_nothing_does_not_keep_the_last_ones_count() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        sample_run.attempt(bus, "t1", 1, ["alpha one", "beta", "Alpha two"], passes=True)
        await caught_up(app, bus, pilot)
        log = agent_log(app)
        await pilot.press("slash", *"alpha", "enter")
        assert said_below(log) == '"alpha": 2/2'
        await pilot.press("slash", *"zzz", "enter")  # "alpha": 2/2 stayed under it
        assert said_below(log) == '"zzz": no match'


def said_below(log: AgentLog) -> str | None:
    """The words on the log's lower border."""
    markup = log.border_subtitle
    return None if markup is None else Text.from_markup(markup).plain
