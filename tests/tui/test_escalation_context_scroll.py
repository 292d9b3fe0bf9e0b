"""The escalation dialog's keys: its context scrolls with the keys a person reaches for, from
its first line, and ? opens the help over it.

In tmux at 80x24, the twin's question about the plan showed the plan's first four lines
and ↓, page down and end did nothing: the context took keys only after tab twice, which
nothing said. And after scrolling one question's diff, ``n`` showed the next question's
context scrolled as far down.
"""

from __future__ import annotations

import sample_run
from pilot_helpers import caught_up, recording_app
from test_tui_plain_text import ignore
from textual.widgets import Static

from engine.bus import EventBus
from engine.events import EscalationRaised
from tui.app import ShopfloorApp
from tui.messages import Decision
from tui.screens.escalation import EscalationScreen
from tui.screens.help import HelpScreen


def raise_long(bus: EventBus, escalation_id: str) -> None:
    """A question whose context is two hundred lines of gate output."""
    bus.emit(
        EscalationRaised(
            escalation_id=escalation_id,
            kind="circuit_breaker",
            task_id="t2",
            question="The same failure three times. Retry, skip or change the task?",
            options=["retry", "skip", "change"],
            default="skip",
            context="\n".join(f"FAILED tests/test_cli.py::test_{i} - exit 2" for i in range(200)),
        )
    )


async def test_the_arrows_scroll_the_context_and_the_next_one_starts_at_the_top() -> None:
    bus = EventBus(sample_run.RUN_ID)
    decisions: list[Decision] = []
    app = recording_app(bus, decisions)
    async with app.run_test(size=(80, 24)) as pilot:
        sample_run.start(bus)
        raise_long(bus, "esc-1")
        raise_long(bus, "esc-2")
        await caught_up(app, bus, pilot)
        await pilot.press("e")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, EscalationScreen)
        context = screen.query_one("#esc-context-scroll")
        assert context.max_scroll_y > 0 and context.scroll_y == 0
        await pilot.press("down", "down")
        await pilot.pause()
        assert context.scroll_y == 2
        await pilot.press("pagedown", "end")
        await pilot.pause()
        assert context.scroll_y == context.max_scroll_y
        await pilot.press("c", "escape")  # a note begun and left: the arrows scroll again
        await pilot.press("home")
        await pilot.pause()
        assert context.scroll_y == 0
        await pilot.press("end", "n")
        await pilot.pause()
        assert screen.current is not None and screen.current.escalation_id == "esc-2"
        assert context.scroll_y == 0
        await pilot.press("a")  # the decision keys still decide
        await pilot.pause()
    assert decisions == [Decision("esc-2", "retry")]


async def test_question_mark_opens_the_help_over_the_dialog() -> None:
    # The help lists ? under "everywhere"; in the dialog (a modal, which leaves out the
    # app's keys) it did nothing.
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"), on_decision=ignore)
    async with app.run_test(size=(80, 24)) as pilot:
        sample_run.start(bus)
        raise_long(bus, "esc-1")
        await caught_up(app, bus, pilot)
        await pilot.press("e", "question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, EscalationScreen)


async def test_a_simulated_runs_question_is_marked_sim_on_a_small_terminal() -> None:
    # Below 60x20 the dialog takes the whole terminal, the run's header with its SIM badge
    # under it: the twin's (a SIM model's) question then showed with nothing saying SIM.
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"), on_decision=ignore)
    async with app.run_test(size=(56, 18)) as pilot:
        sample_run.start(bus)  # simulated
        raise_long(bus, "esc-1")
        await caught_up(app, bus, pilot)
        await pilot.press("e")
        await pilot.pause()
        question = app.screen.query_one("#esc-question", Static)
        assert str(question.render()).startswith(" SIM  escalation 1/1")
