"""The agent table says each agent's cost as the rest of the screen says money.

It said ``$0.004`` (three places: a call of $0.0042 lost a digit, $1,234.50 read
``$1234.500``) while the budget line, ``status`` and the escalations say
:func:`engine.spend.dollars`. The column stays right-aligned, so the cents line up.
"""

from __future__ import annotations

import sample_run
from pilot_helpers import caught_up

from engine.bus import EventBus
from engine.events import AgentStarted, LLMCallFinished
from tui.app import ShopfloorApp
from tui.widgets.agent_table import AgentTable

COSTS = {"a1": 0.0042, "a2": 0.6, "a3": 1234.5}


async def test_the_agent_table_says_money_as_the_budget_line_does_right_aligned() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(120, 40)) as pilot:
        sample_run.start(bus, simulated=False)
        for name, cost in COSTS.items():
            bus.emit(AgentStarted(agent_id=name, role="critic", model="openai:m"))
            bus.emit(
                LLMCallFinished(
                    agent_id=name,
                    role="critic",
                    provider="openai",
                    model="m",
                    input_tokens=10,
                    cost_usd=cost,
                )
            )
        await caught_up(app, bus, pilot)
        table = app.screen.query_one(AgentTable)
        lines = [
            "".join(segment.text for segment in table.render_line(y)) for y in range(1 + len(COSTS))
        ]
    _, *rows = lines
    assert [str(table.row_cells(name)[4]) for name in COSTS] == ["$0.0042", "$0.60", "$1,234.50"]
    ends = set()
    for name, row in zip(COSTS, rows, strict=True):
        cost = str(table.row_cells(name)[4])
        ends.add(row.index(cost) + len(cost))
    assert len(ends) == 1  # one right edge: the cents line up
