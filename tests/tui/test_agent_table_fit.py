"""The agent table keeps each agent's tokens and cost on screen in a half-screen panel.

At 120 columns the table's panel is 58 cells wide; an engineer's or task reviewer's name
(``task_reviewer:pricing:a2``) and a model spec (`` SIM  sim:inventory``,
``openai:qwen2.5-coder-32b-instruct``) filled it, and the tokens and cost were cut off at
its right edge. The model column now gives way (its full spec is in the agent log's title).
"""

from __future__ import annotations

import sample_run
from pilot_helpers import caught_up

from engine.bus import EventBus
from engine.events import AgentStarted, LLMCallFinished
from tui.app import ShopfloorApp
from tui.widgets.agent_rows import MODEL_MIN_WIDTH, fitted_widths
from tui.widgets.agent_table import AgentTable

AGENTS = {
    "task_reviewer:pricing:a2": "openai:qwen2.5-coder-32b-instruct",
    "engineer:models:a1": "anthropic:claude-sonnet-4-5",
}


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


def test_the_model_column_gives_way_to_its_minimum_only() -> None:
    widths = (24, 7, 33, 6, 6, 8)
    assert fitted_widths(widths, 200) == widths  # room enough: as it is
    assert fitted_widths(widths, 66) == (24, 7, 13, 6, 6, 8)  # agent..cost fit exactly
    assert fitted_widths(widths, 30) == (24, 7, MODEL_MIN_WIDTH, 6, 6, 8)  # scrolls sideways
    assert fitted_widths((24, 7, 4, 6, 6, 8), 30) == (24, 7, 4, 6, 6, 8)  # narrow already
