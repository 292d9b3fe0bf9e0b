"""The agent table keeps each agent's tokens and cost on screen in a half-screen panel.

At 120 columns the table's panel is 58 cells wide; an engineer's or task reviewer's name
(``task_reviewer:pricing:a2``) and a model spec (`` SIM  sim:inventory``,
``openai:qwen2.5-coder-32b-instruct``) filled it, and the tokens and cost were cut off at
its right edge. The model column now gives way (its full spec is in the agent log's title).
At 100 columns (a 48-cell panel) even so the cost was off the edge, behind a sideways
scroll: the agent's name gives way next, cut in its middle so its role's start and its
task's end and attempt stay.
"""

from __future__ import annotations

import sample_run
from pilot_helpers import caught_up

from engine.bus import EventBus
from engine.events import AgentStarted, LLMCallFinished
from tui.app import ShopfloorApp
from tui.widgets.agent_rows import AGENT_MIN_WIDTH, MODEL_MIN_WIDTH, cell_text, fitted_widths
from tui.widgets.agent_table import AgentTable

AGENTS = {
    "task_reviewer:pricing:a2": "openai:qwen2.5-coder-32b-instruct",
    "engineer:models:a1": "anthropic:claude-sonnet-4-5",
}


def drawn_rows(table: AgentTable, count: int) -> list[str]:
    return [
        "".join(segment.text for segment in table.render_line(y)).rstrip() for y in range(1 + count)
    ]


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
        await caught_up(app, bus, pilot)
        table = app.screen.query_one(AgentTable)
        header, *rows = drawn_rows(table, len(AGENTS))
    assert header.split()[:5] == ["agent", "state", "model", "tokens", "cost"], header
    for name, row in zip(AGENTS, rows, strict=True):
        shown = row.split()[0]
        assert shown[:4] == name[:4] and shown.endswith(name[-4:]) and "…" in shown, row
        assert "123.5k" in row and row.endswith("$12.34"), row


def test_the_model_then_the_agent_column_give_way_to_their_minimum_only() -> None:
    widths = (24, 7, 33, 6, 6, 8)
    assert fitted_widths(widths, 200) == widths  # room enough: as it is
    assert fitted_widths(widths, 66) == (24, 7, 13, 6, 6, 8)  # agent..cost fit exactly
    assert fitted_widths(widths, 48) == (14, 7, MODEL_MIN_WIDTH, 6, 6, 8)  # the name too
    assert fitted_widths(widths, 47) == (AGENT_MIN_WIDTH + 1, 7, MODEL_MIN_WIDTH, 6, 6, 8)
    assert fitted_widths(widths, 30) == (24, 7, MODEL_MIN_WIDTH, 6, 6, 8)  # scrolls sideways
    assert fitted_widths((10, 7, 4, 6, 6, 8), 30) == (10, 7, 4, 6, 6, 8)  # narrow already


def test_a_cut_agent_name_keeps_both_ends() -> None:
    assert cell_text("task_reviewer:pricing:a2", 12, middle=True).plain == "task_…ing:a2"
    assert cell_text("engineer:models:a1", 30, middle=True).plain == "engineer:models:a1".ljust(30)
