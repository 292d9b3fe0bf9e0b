"""The agent table keeps each agent's tokens and cost on screen in a half-screen panel.

At 120 columns the table's panel is 58 cells wide; an engineer's or task reviewer's name
(``task_reviewer:pricing:a2``) and a model spec (`` SIM  sim:inventory``,
``openai:qwen2.5-coder-32b-instruct``) filled it, and the tokens and cost were cut off at
its right edge. The model column now gives way (its full spec is in the agent log's title).
At 100 columns (a 48-cell panel) even so the cost was off the edge, behind a sideways
scroll: the agent's name gives way next, cut in its middle so its role's start and its
task's end and attempt stay. At 80 columns (a 34-cell panel) the tokens were cut and the
cost gone even so: the model column goes (the log's title names the model and shows the
SIM badge) and the state is a glyph (◐ ✓ ✗ ⊘, coloured as its word). With the model
column went the SIM badge: beside real models, a SIM agent's row did not say it was one, so
such a row starts with the one-cell SIM mark (the help's legend says what it means).
"""

from __future__ import annotations

import pytest
import sample_run
from pilot_helpers import caught_up
from rich.console import Console
from rich.style import Style
from rich.text import Text

from engine.bus import EventBus
from engine.events import AgentFinished, AgentStarted, LLMCallFinished
from engine.run_views import AgentView
from tui.app import ShopfloorApp
from tui.screens.help import help_table
from tui.text import SIM_BADGE, SIM_MARK
from tui.widgets import agent_rows
from tui.widgets.agent_log import AgentLog
from tui.widgets.agent_rows import AGENT_MIN_WIDTH, MODEL_MIN_WIDTH, cell_text, fitted_widths
from tui.widgets.agent_table import AgentTable
from tui.widgets.run_header import TextLine

AGENTS = {
    "task_reviewer:pricing:a2": "openai:qwen2.5-coder-32b-instruct",
    "engineer:models:a1": "anthropic:claude-sonnet-4-5",
}


def drawn_rows(table: AgentTable, count: int) -> list[str]:
    return [
        "".join(segment.text for segment in table.render_line(y)).rstrip() for y in range(1 + count)
    ]


def sim_agent_spent(bus: EventBus, name: str) -> None:
    """A SIM agent ``name`` started and made one call of 123,456 tokens for $12.34."""
    bus.emit(AgentStarted(agent_id=name, role="engineer", model="sim:", simulated=True))
    bus.emit(
        LLMCallFinished(
            agent_id=name,
            role="engineer",
            provider="sim",
            model="",
            input_tokens=123_456,
            cost_usd=12.34,
            simulated=True,
        )
    )


async def test_tokens_and_cost_stay_on_screen_at_120_columns() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(120, 40)) as pilot:
        sample_run.start(bus, simulated=False)
        for name, model in AGENTS.items():
            bus.emit(AgentStarted(agent_id=name, role="engineer", model=model))
            bus.emit(
                LLMCallFinished(
                    agent_id=name,
                    role="engineer",
                    provider=model.split(":")[0],
                    model=model.split(":")[1],
                    input_tokens=123_456,
                    cost_usd=12.34,
                )
            )
        await caught_up(app, bus, pilot)
        table = app.screen.query_one(AgentTable)
        assert table.size.width < 70  # the half-screen panel
        lines = [
            "".join(segment.text for segment in table.render_line(y)).rstrip()
            for y in range(1 + len(AGENTS))
        ]
    header, *rows = lines
    assert header.split()[:5] == ["agent", "state", "model", "tokens", "cost"], header
    for name, row in zip(AGENTS, rows, strict=True):
        assert row.split()[0] == name, row  # the agent's name whole
        assert "123.5k" in row and row.endswith("$12.34"), row
        assert row.split()[2].endswith("…"), row  # the model's spec cut, not the name


async def test_tokens_and_cost_stay_on_screen_at_100_columns() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(100, 30)) as pilot:
        sample_run.start(bus)
        for name in AGENTS:
            sim_agent_spent(bus, name)
        await caught_up(app, bus, pilot)
        table = app.screen.query_one(AgentTable)
        header, *rows = drawn_rows(table, len(AGENTS))
    assert header.split()[:5] == ["agent", "state", "model", "tokens", "cost"], header
    for name, row in zip(AGENTS, rows, strict=True):
        shown = row.split()[0]
        assert shown[:4] == name[:4] and shown.endswith(name[-4:]) and "…" in shown, row
        assert "123.5k" in row and row.endswith("$12.34"), row


async def test_tokens_and_cost_stay_on_screen_at_80_columns() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    ends = {  # more agents than the panel's rows: its scrollbar takes a column too
        "task_reviewer:pricing:a2": True,
        "engineer:models:a1": None,
        "engineer:pricing:a1": False,
        "critic": True,
        "planner": True,
    }
    async with app.run_test(size=(80, 24)) as pilot:
        sample_run.start(bus)
        for name, ok in ends.items():
            sim_agent_spent(bus, name)
            if ok is not None:
                bus.emit(AgentFinished(agent_id=name, ok=ok))
        await caught_up(app, bus, pilot)
        table = app.screen.query_one(AgentTable)
        assert table.size.width < 40  # the half-screen panel
        header, *rows = drawn_rows(table, 3)
        table.focus()
        await pilot.press("down")
        await pilot.pause()
        title = app.screen.query_one(AgentLog).query_one(".agent-log--title", TextLine)
        log_title = title.render_line(0).text
    assert header.split() == ["agent", "tokens", "cost"], header  # no model column
    for name, glyph, row in zip(ends, "✓◐✗", rows, strict=False):
        assert row[0] == SIM_MARK[0], row  # every one of them a SIM agent
        shown, state, *_ = row[1:].split()
        assert shown[:4] == name[:4] and shown.endswith(name[-4:]), row
        assert state == glyph, row
        assert "123.5k" in row and row.endswith("$12.34"), row
    # The SIM badge and the model are in the log's title of the agent under the cursor.
    assert " SIM  engineer:models:a1 running" in log_title, log_title


MIXED = {  # agent: (model, simulated)
    "task_reviewer:pricing:a2": ("openai:qwen2.5-coder-32b-instruct", False),
    "engineer:models:a1": ("sim:", True),
    "engineer:pricing:a1": ("sim:inventory", True),
    "critic": ("anthropic:claude-sonnet-4-5", False),
}


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
async def test_every_sim_agents_row_says_sim_beside_real_models(size: tuple[int, int]) -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=size) as pilot:
        sample_run.start(bus, simulated=False)
        for name, (model, sim) in MIXED.items():
            bus.emit(AgentStarted(agent_id=name, role="engineer", model=model, simulated=sim))
        await caught_up(app, bus, pilot)
        table = app.screen.query_one(AgentTable)
        strips = [table.render_line(y) for y in range(1, 1 + len(MIXED))]
    badge = Style.parse(SIM_BADGE[1])
    for (name, (_, sim)), strip in zip(MIXED.items(), strips, strict=True):
        row = strip.text
        # The badge's style on "SIM" in the model column, or on the one-cell mark before the
        # name where that column is off (80 columns).
        marked = [
            s.text for s in strip if s.style is not None and badge.reverse and s.style.reverse
        ]
        shows_sim = any("SIM" in text or text == SIM_MARK[0] for text in marked)
        assert shows_sim == sim, (name, row, marked)
        assert row.split()[-1] == "$0.00", row  # and the cost still in sight


async def test_the_sim_mark_follows_the_agents_simulated_field_not_its_model_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the model column is off (80 columns), the one-cell SIM mark says what the agent
    is, not what its model cell reads: a real model whose spec begins as the badge does is
    not marked, and a SIM agent is marked wherever its model cell puts the badge."""

    def badge_after_the_model(agent: AgentView) -> Text:
        text = Text(agent.model, style="dim")
        if agent.simulated:
            text.append(" ")
            text.append(*SIM_BADGE)
        return text

    monkeypatch.setattr(agent_rows, "model_cell", badge_after_the_model)
    agents = {  # agent: (model, simulated)
        "engineer:models:a1": (f"{SIM_BADGE[0]} lookalike", False),
        "engineer:pricing:a1": ("sim:inventory", True),
    }
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(80, 24)) as pilot:
        sample_run.start(bus, simulated=False)
        for name, (model, sim) in agents.items():
            bus.emit(AgentStarted(agent_id=name, role="engineer", model=model, simulated=sim))
        await caught_up(app, bus, pilot)
        header, *rows = drawn_rows(app.screen.query_one(AgentTable), len(agents))
    assert "model" not in header.split(), header
    assert [row[0] == SIM_MARK[0] for row in rows] == [False, True], rows


def test_the_help_says_what_the_sim_mark_means() -> None:
    console = Console(width=100, record=True)
    console.print(help_table())
    (line,) = [line for line in console.export_text().splitlines() if "a SIM agent" in line]
    assert line.split()[0] == SIM_MARK[0], line


def test_the_model_then_the_agent_column_give_way_to_their_minimum_only() -> None:
    widths = (24, 7, 33, 6, 6, 8)
    assert fitted_widths(widths, 200) == widths  # room enough: as it is
    assert fitted_widths(widths, 66) == (24, 7, 13, 6, 6, 8)  # agent..cost fit exactly
    assert fitted_widths(widths, 48) == (14, 7, MODEL_MIN_WIDTH, 6, 6, 8)  # the name too
    assert fitted_widths(widths, 47) == (AGENT_MIN_WIDTH + 1, 7, MODEL_MIN_WIDTH, 6, 6, 8)
    assert fitted_widths((10, 7, 4, 6, 6, 8), 43) == (10, 7, 4, 6, 6, 8)  # narrow already


def test_then_the_model_goes_and_the_state_is_a_glyph() -> None:
    widths = (24, 7, 33, 6, 6, 8)
    # One cell less than the above: the name gets back the model's and the state's room.
    assert fitted_widths(widths, 45) == (24, 1, 0, 6, 6, 8)
    assert fitted_widths(widths, 40) == (19, 1, 0, 6, 6, 8)
    assert fitted_widths(widths, 33) == (AGENT_MIN_WIDTH, 1, 0, 6, 6, 8)  # 80 columns
    assert fitted_widths(widths, 32) == (24, 1, 0, 6, 6, 8)  # scrolls sideways, name whole
    assert fitted_widths((10, 7, 4, 6, 6, 8), 30) == (10, 1, 0, 6, 6, 8)


def test_a_cut_agent_name_keeps_both_ends() -> None:
    assert cell_text("task_reviewer:pricing:a2", 12, middle=True).plain == "task_…ing:a2"
    assert cell_text("engineer:models:a1", 30, middle=True).plain == "engineer:models:a1".ljust(30)
