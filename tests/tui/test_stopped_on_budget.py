"""What ``status`` and ``attach`` say about a run stopped on its budget, from one sentence.

An overnight run crossed its token budget and stopped while its question ("raise / stop")
was open. In the morning ``status`` says how to go on: ``resume --max-tokens N`` — unless
its owner already answered the question "raise" with ``shopfloor approve`` while the run was
stopped, which the resume takes: then a plain ``resume`` does it. ``attach`` said
"`shopfloor resume RUN` carries it on", which is refused while the run is over its budget;
it now says what ``status`` says. ``status`` also printed nothing of the run's spend.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from rich.console import Console
from test_plan_view import db, started

from engine import loop as event_loop
from engine.budget import BudgetTracker
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.escalations import EscalationBroker
from engine.events import AgentStarted, EventBase, LLMCallFinished
from engine.spend import still_crossed
from engine.state import RunState
from storage.store import SqlEventStore
from tui.cli import main
from tui.commands.attach import print_closing
from tui.driver_watch import watch_driver

__all__ = ["db"]  # the fixture

RUN_ID = "r-plan"  # test_plan_view's started() names it


def spend(bus: EventBus, agent: str, tokens: int, cost: float, *, priced: bool = True) -> None:
    bus.emit(AgentStarted(agent_id=agent, role="engineer", model="m", task_id=None))
    bus.emit(
        LLMCallFinished(
            agent_id=agent,
            role="engineer",
            provider="p",
            model="m" if priced else "local",
            input_tokens=tokens,
            cache_read_tokens=tokens // 2,
            output_tokens=40,
            cost_usd=cost,
            priced=priced,
        )
    )


async def stopped_over_budget() -> list[EventBase]:
    """A run over its token budget (1,880 of 1,000) stopped while its question was open."""
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    bus.emit(started())
    config = EngineConfig(max_tokens=1000, max_cost_usd=5.0)
    budget = BudgetTracker(bus, config, EscalationBroker(bus))
    spend(bus, "eng-a", 1000, 0.0042)
    spend(bus, "eng-b", 200, 0.0, priced=False)
    asking = asyncio.create_task(budget.admit())
    for _ in range(200):
        if bus.state.open_escalations:
            break
        await asyncio.sleep(0.005)
    asking.cancel()  # Ctrl-C, or the process killed
    await asyncio.gather(asking, return_exceptions=True)
    return events


def stored(db: Path) -> RunState:
    async def write() -> RunState:
        events = await stopped_over_budget()
        async with await SqlEventStore.open(str(db)) as opened:
            await opened.append(events)
        return RunState.fold(events)

    return event_loop.run(write())


def status(db: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["status", RUN_ID, "--db", str(db)]) == 0
    return capsys.readouterr().out


class View:
    """Stands in for the attached run screen: what it would toast."""

    def __init__(self) -> None:
        self.said: list[str] = []

    def notify(self, message: str, **_: object) -> None:
        self.said.append(message)

    def show_stopped(self, stopped: bool) -> None:
        pass


def attach_says(db: Path, state: RunState) -> tuple[str, str]:
    """What ``attach`` toasts when it finds the run stopped, and prints as it closes."""

    async def both() -> tuple[str, str]:
        out = io.StringIO()
        view = View()
        async with await SqlEventStore.open(str(db)) as opened:
            watching = asyncio.create_task(watch_driver(view, opened, RUN_ID, poll_s=0.01))
            try:
                async with asyncio.timeout(5):
                    while not view.said:  # noqa: ASYNC110 (as the view's toast comes)
                        await asyncio.sleep(0.01)
            finally:
                watching.cancel()
                await asyncio.gather(watching, return_exceptions=True)
            await print_closing(opened, RUN_ID, state, Console(file=out, width=400))
        [toast] = view.said
        return toast, out.getvalue()

    return event_loop.run(both())


def test_status_says_what_the_run_spent_and_its_limits(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stored(db)
    said = status(db, capsys)
    assert (
        "spent: 1,880 tokens (1,800 in with 600 cached, 80 out), $0.0042 + unpriced; "
        "budget: run 1,000 tokens, $5.00; tokens budget exceeded\n"
    ) in said


FLAGS = (
    f"`shopfloor resume {RUN_ID} --max-tokens 2820 --db {{db}}` carries it on with a higher budget"
)
"""How to go on with no answer waiting: 1,880 tokens spent, raised to 1.5 times that
(``{db}``: the database file the run is in)."""
PLAIN = (
    f"`shopfloor resume {RUN_ID} --db {{db}}` takes the raise waiting in its inbox and carries "
    "it on"
)
"""How to go on with a "raise" posted to the open budget question while the run stopped."""


def approve(db: Path, state: RunState, capsys: pytest.CaptureFixture[str]) -> None:
    [question] = state.open_escalations
    assert main(["approve", question.escalation_id, "--db", str(db)]) == 0
    capsys.readouterr()
    # What resume checks before it starts agrees: the raise lifts the budget it is over.
    assert still_crossed(state, answers={question.escalation_id: "raise"}) is None


def test_status_says_a_plain_resume_takes_a_raise_waiting_in_the_inbox(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = stored(db)
    said = status(db, capsys)
    assert "the run stopped on its budget: it is over its tokens budget" in said
    assert FLAGS.format(db=db) in said
    approve(db, state, capsys)
    said = status(db, capsys)
    assert PLAIN.format(db=db) in said and "--max-tokens" not in said  # was: --max-tokens 2820


def test_attach_says_how_to_go_on_as_status_does(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = stored(db)
    toast, closing = attach_says(db, state)
    flags = FLAGS.format(db=db)
    assert flags in toast and flags in closing  # was: `shopfloor resume r-plan` carries it on
    assert closing.splitlines()[0] == f"run {RUN_ID}: stopped (stage intake)"
    approve(db, state, capsys)
    toast, closing = attach_says(db, state)
    plain = PLAIN.format(db=db)
    assert plain in toast and plain in closing
