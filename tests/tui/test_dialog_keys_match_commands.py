"""The dialog's a and r take the option ``shopfloor approve`` and ``reject`` take.

In tmux, a tripped circuit breaker's dialog read "[a] retry [2] skip (default) [r] abort":
r, "reject", ended the whole run, where ``shopfloor reject`` skips the task (the question's
default). A budget question's a said "this escalation has no approve option: raise, stop",
where ``shopfloor approve`` raises the budget.
"""

from __future__ import annotations

import pytest
import sample_run
from escalation_records import open_escalation
from pilot_helpers import caught_up, recording_app
from textual.pilot import Pilot
from textual.widgets import Footer

from engine.bus import EventBus
from engine.events import EscalationRaised
from tui.app import ShopfloorApp
from tui.commands.escalations import choose_option
from tui.messages import Decision
from tui.screens.escalation import EscalationScreen

ASKED = {  # the engine's questions, as engine/*.py asks them
    "circuit_breaker": ["retry", "skip", "abort"],
    "budget": ["raise", "stop"],
    "merge": ["retry", "stop"],
    "review": ["approve", "revise", "reject"],
    "twin": ["accept", "change", "reject"],
}
EXPECTED = {  # (a, r) as `shopfloor approve` / `reject` choose
    "circuit_breaker": ("retry", "skip"),
    "budget": ("raise", "stop"),
    "merge": ("retry", "stop"),
    "review": ("approve", "reject"),
    "twin": ("accept", "reject"),
}


async def ask(
    app: ShopfloorApp, bus: EventBus, pilot: Pilot[None], kind: str, waiting: int = 1
) -> None:
    """The engine's question of ``kind`` (:data:`ASKED`) open in the escalation dialog, the
    first of ``waiting`` such questions (esc-1, esc-2, ...)."""
    sample_run.start(bus)
    for n in range(1, waiting + 1):
        bus.emit(
            EscalationRaised(
                escalation_id=f"esc-{n}",
                kind=kind,  # type: ignore[arg-type]
                question="What now?",
                options=ASKED[kind],
                default=ASKED[kind][1],
                task_id="t2",
            )
        )
    await caught_up(app, bus, pilot)
    await pilot.press("e")
    await pilot.pause()
    assert isinstance(app.screen, EscalationScreen)


@pytest.mark.parametrize("kind", list(ASKED))
@pytest.mark.parametrize("key", ["a", "r"])
async def test_a_and_r_decide_as_the_commands_do(kind: str, key: str) -> None:
    bus = EventBus(sample_run.RUN_ID)
    decisions: list[Decision] = []
    app = recording_app(bus, decisions)
    async with app.run_test(size=(80, 24)) as pilot:
        await ask(app, bus, pilot, kind)
        await pilot.press(key)
        await pilot.pause()
    approve, reject = EXPECTED[kind]
    assert decisions == [Decision("esc-1", approve if key == "a" else reject)]


def test_the_commands_choose_what_the_dialog_does() -> None:
    for kind, options in ASKED.items():
        record = open_escalation(*options, kind=kind)
        chosen = (choose_option("approve", record), choose_option("reject", record))
        assert chosen == EXPECTED[kind]


KEY_BAR = {  # the decision keys the key bar shows, named as the options line names them
    "circuit_breaker": [("a", "Retry"), ("r", "Skip")],  # no c: nothing to change
    "budget": [("a", "Raise"), ("r", "Stop")],
    "merge": [("a", "Retry"), ("r", "Stop")],
    "review": [("a", "Approve"), ("r", "Reject"), ("c", "Revise")],
    "twin": [("a", "Accept"), ("r", "Reject"), ("c", "Change")],
}


@pytest.mark.parametrize("kind", list(ASKED))
async def test_the_key_bar_names_what_each_key_does_for_this_question(kind: str) -> None:
    """In tmux, a circuit breaker's dialog read "[a] retry [2] skip (default) [r] abort"
    above a key bar saying "a Approve r Reject c Change": c did nothing there."""
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(80, 24)) as pilot:
        await ask(app, bus, pilot, kind)
        shown = [(key.key, str(key.description)) for key in app.screen.query_one(Footer).children]
    assert [(k, d) for k, d in shown if k in "arc"] == KEY_BAR[kind]
    assert [d for k, d in shown if k not in "arc"] == ["Next", "Close", "Help"]
