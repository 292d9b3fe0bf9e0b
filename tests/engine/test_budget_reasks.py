"""A budget crossing is one question, asked once, whoever waits on it and however often they
are cancelled.

Work paused on a crossed budget can be cancelled while it waits: a task cancelled with the
rest of the build when the run stops, a process stopped with Ctrl-C and resumed later. The
question it asked stays open in the log; the next to wait on that crossing asks it again, and
must re-attach to the same escalation (same id, same words) rather than raise a second one
for a person to answer twice.
"""

from __future__ import annotations

import asyncio

from test_budget_questions import spend, until

from engine.budget import BudgetTracker
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.escalations import EscalationBroker
from engine.events import EscalationRaised, EventBase
from engine.state import RunState


def raised(events: list[EventBase]) -> list[tuple[str, str]]:
    return [(e.escalation_id, e.question) for e in events if isinstance(e, EscalationRaised)]


async def test_a_task_cancelled_while_paused_on_its_budget_is_asked_once_when_it_comes_back():
    bus = EventBus("r1")
    events: list[EventBase] = []
    bus.listen(events.append)
    broker = EscalationBroker(bus, policy="wait")
    budget = BudgetTracker(bus, EngineConfig(task_max_tokens=500), broker)
    spend(bus, "a", 600)
    paused = asyncio.create_task(budget.admit("a"))
    await until(lambda: len(bus.state.open_escalations) == 1)
    paused.cancel()  # the build stops around it
    await asyncio.gather(paused, return_exceptions=True)
    spend(bus, "a", 150)  # a call that was in flight lands meanwhile
    again = asyncio.create_task(budget.admit("a"))
    await asyncio.sleep(0.05)
    assert raised(events) == [
        (
            "esc-1",
            "task a crossed its tokens budget (600 tokens of 500): raise it or stop (this task "
            "stops; the others go on, and the run stays resumable)?",
        )
    ]
    [question] = bus.state.open_escalations
    assert broker.decide(question.escalation_id, "raise", "human:ann")
    await asyncio.wait_for(again, 2)
    assert bus.state.open_escalations == []
    assert len(bus.state.escalations) == 1


async def test_a_resume_with_nothing_changed_reattaches_to_the_open_question():
    bus = EventBus("r2")
    log: list[EventBase] = []
    bus.listen(log.append)
    budget = BudgetTracker(bus, EngineConfig(max_tokens=1000), EscalationBroker(bus))
    spend(bus, "a", 1200)
    asking = asyncio.create_task(budget.admit("a"))
    await until(lambda: len(bus.state.open_escalations) == 1)
    asking.cancel()  # Ctrl-C
    await asyncio.gather(asking, return_exceptions=True)

    resumed = EventBus("r2", state=RunState.fold(log))
    after: list[EventBase] = []
    resumed.listen(after.append)
    broker = EscalationBroker(resumed, policy="wait")
    budget = BudgetTracker(resumed, EngineConfig(max_tokens=1000), broker)
    budget.close_stale_questions()
    waiting = asyncio.create_task(budget.admit("a"))
    await asyncio.sleep(0.05)
    assert raised(after) == []  # no second question: the open one is asked again
    assert broker.decide("esc-1", "raise", "human:ann")
    await asyncio.wait_for(waiting, 2)
    assert resumed.state.open_escalations == []
    assert budget.run.max_tokens == 2000


async def test_an_answer_that_lands_as_its_asker_is_cancelled_is_not_asked_for_again():
    """Before, the answer was dropped: ``decide`` said it was taken, the asker was cancelled
    before it read it, and whoever waited on the same crossing asked the escalation again and
    waited for a second answer to it (here: for ever)."""
    bus = EventBus("r3")
    events: list[EventBase] = []
    bus.listen(events.append)
    broker = EscalationBroker(bus, policy="wait")
    budget = BudgetTracker(bus, EngineConfig(max_tokens=1000), broker)
    spend(bus, "a", 1200)
    asker = asyncio.create_task(budget.admit("a"))
    await until(lambda: len(bus.state.open_escalations) == 1)
    other = asyncio.create_task(budget.admit("b"))
    await asyncio.sleep(0.02)
    assert broker.decide("esc-1", "raise", "human:ann")  # the person is told it was taken
    asker.cancel()  # ...and the work that asked is cancelled before it reads the answer
    await asyncio.gather(asker, return_exceptions=True)
    await asyncio.wait_for(other, 2)  # the other waiter goes on with that raise
    assert len(raised(events)) == 1
    resolved = bus.state.escalations["esc-1"]
    assert (resolved.decision, resolved.decided_by) == ("raise", "human:ann")
    assert budget.run.max_tokens == 2000
