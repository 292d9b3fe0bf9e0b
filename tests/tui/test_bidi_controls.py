"""An agent's bidirectional controls are shown, not obeyed.

In tmux, an agent line holding U+202E (right-to-left override) went to the terminal as it
was: a terminal that lays text out both ways (VTE does) draws the rest of the line reversed,
so the log would show words the agent did not write in that order ("Trojan Source"). They
are drawn as '�', as other control characters are, on screen and in the headless lines.
"""

from __future__ import annotations

import io

import sample_run
from pilot_helpers import caught_up
from rich.console import Console
from test_tui_agent_log import on_screen

from engine.bus import EventBus
from engine.events import AgentOutput
from tui.app import ShopfloorApp
from tui.headless import ConsoleReporter

RLO, PDF, RLI, PDI = "\u202e", "\u202c", "\u2067", "\u2069"
LINE = f"approved {RLO}tsil_tnemyap{PDF} and {RLI}x{PDI}; שלום stays"
SHOWN = "approved �tsil_tnemyap� and �x�; שלום stays"


async def test_the_log_shows_bidirectional_controls_as_replacement_marks() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(120, 40)) as pilot:
        sample_run.start(bus)
        sample_run.attempt(bus, "t1", 1, [LINE], passes=True)
        await caught_up(app, bus, pilot)
        assert SHOWN in on_screen(app)


def test_the_headless_lines_show_them_the_same_way() -> None:
    console = Console(file=io.StringIO(), width=200)
    reporter = ConsoleReporter(
        EventBus("r").subscribe("console"), console, verbose=True, show_time=False
    )
    reporter.report(AgentOutput(run_id="r", seq=1, agent_id="engineer:t1:a1", text=LINE))
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert f"engineer:t1:a1 │ {SHOWN}" in output
