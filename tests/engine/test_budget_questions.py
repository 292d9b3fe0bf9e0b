"""Budget questions: every crossing is asked at once, and each once.

A person answering the escalations of a run over budget sees every question pending: one
task's question must not hold back another task's, nor the run's. Two pieces of work paused
on the same crossing share its one question and its one answer.
"""

from __future__ import annotations

import asyncio

import pytest

from engine.budget import BudgetStop, BudgetTracker
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.escalations import EscalationBroker
from engine.events import AgentStarted, EventBase, LLMCallFinished
from engine.spend import BudgetLimits, still_crossed
from engine.state import RunState


def spend(bus: EventBus, task_id: str, tokens: int, cost: float = 0.0) -> None:
    agent = f"eng-{task_id}"
    bus.emit(AgentStarted(agent_id=agent, role="engineer", model="m", task_id=task_id))
    bus.emit(
        LLMCallFinished(
            agent_id=agent,
            role="engineer",
            provider="p",
            model="m",
            input_tokens=tokens,
            cost_usd=cost,
        )
    )


async def until(check) -> None:
    async with asyncio.timeout(2):
        while not check():  # noqa: ASYNC110 (the bus state is polled, as a TUI would)
            await asyncio.sleep(0.005)


async def test_one_tasks_open_question_does_not_hold_back_another_tasks_or_the_runs():
    """Before, the first question held the tracker's lock while it waited for its answer:
    b's question and the run's were not raised until a's was answered."""
    bus = EventBus("q1")
    broker = EscalationBroker(bus, policy="wait")
    budget = BudgetTracker(bus, EngineConfig(max_tokens=2000, task_max_tokens=500), broker)
    spend(bus, "a", 600)
    spend(bus, "b", 700)
    a = asyncio.create_task(budget.admit("a"))
    await until(lambda: len(bus.state.open_escalations) == 1)
    b = asyncio.create_task(budget.admit("b"))
    await until(lambda: len(bus.state.open_escalations) == 2)
    spend(bus, "c", 900)  # the run: 2200 tokens of 2000
    run = asyncio.create_task(budget.admit())
    await until(lambda: len(bus.state.open_escalations) == 3)
    asked = {(e.task_id, e.question) for e in bus.state.open_escalations}
    assert asked == {
        ("a", "task a crossed its tokens budget (600 tokens of 500): raise it or stop "
         "(this task stops; the others go on, and the run stays resumable)?"),
        ("b", "task b crossed its tokens budget (700 tokens of 500): raise it or stop "
         "(this task stops; the others go on, and the run stays resumable)?"),
        (None, "the run crossed its tokens budget (2200 tokens of 2000): raise it or stop "
         "(it stays resumable)?"),
    }  # fmt: skip
    by_task = {e.task_id: e.escalation_id for e in bus.state.open_escalations}
    broker.decide(by_task[None], "raise", "human:ann")
    await asyncio.wait_for(run, 2)
    broker.decide(by_task["b"], "stop", "human:ann")
    with pytest.raises(BudgetStop, match="task b"):
        await asyncio.wait_for(b, 2)
    assert not a.done()  # a's question is still open, and still its own
    broker.decide(by_task["a"], "raise", "human:ann")
    await asyncio.wait_for(a, 2)
    assert len(bus.state.escalations) == 3


async def test_work_paused_on_the_same_crossing_shares_one_question_and_its_answer():
    bus = EventBus("q2")
    broker = EscalationBroker(bus, policy="wait")
    budget = BudgetTracker(bus, EngineConfig(max_tokens=1000), broker)
    spend(bus, "a", 1200)
    waiting = [asyncio.create_task(budget.admit(task)) for task in ("a", "b", None, "a")]
    await until(lambda: len(bus.state.open_escalations) == 1)
    await asyncio.sleep(0.02)
    [question] = bus.state.open_escalations
    broker.decide(question.escalation_id, "stop", "human:ann")
    results = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 2)
    assert all(isinstance(r, BudgetStop) and r.scope == "run" for r in results), results
    assert len(bus.state.escalations) == 1  # the stop was not asked again of the others


async def test_a_cancelled_asker_leaves_its_question_to_those_still_waiting():
    bus = EventBus("q3")
    broker = EscalationBroker(bus, policy="wait")
    budget = BudgetTracker(bus, EngineConfig(max_tokens=1000), broker)
    spend(bus, "a", 1200)
    first = asyncio.create_task(budget.admit("a"))
    await until(lambda: len(bus.state.open_escalations) == 1)
    second = asyncio.create_task(budget.admit("b"))
    await asyncio.sleep(0.02)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await asyncio.sleep(0.02)
    [question] = bus.state.open_escalations  # the same one, asked on by the second
    assert len(bus.state.escalations) == 1
    broker.decide(question.escalation_id, "raise", "human:ann")
    await asyncio.wait_for(second, 2)
    assert budget.run.max_tokens == 2000


async def stopped_while_asking() -> list[EventBase]:
    """A run over its token budget (1200 of 1000) stopped while its question was open, and
    spent more meanwhile (calls in flight): its log holds the question, still open."""
    bus = EventBus("q4")
    events: list[EventBase] = []
    bus.listen(events.append)
    budget = BudgetTracker(bus, EngineConfig(max_tokens=1000), EscalationBroker(bus))
    spend(bus, "a", 1200)
    asking = asyncio.create_task(budget.admit("a"))
    await until(lambda: len(bus.state.open_escalations) == 1)
    spend(bus, "b", 300)  # the question says 1200; the log ends at 1500
    asking.cancel()  # Ctrl-C
    await asyncio.gather(asking, return_exceptions=True)
    return events


async def test_a_raise_posted_while_the_run_was_stopped_is_taken_by_its_resume():
    """Before, ``shopfloor approve`` of the open budget question of a stopped run said
    "`shopfloor resume RUN` takes it", but the resume was refused as still over budget; and
    had it gone on, it asked a new question (the spend in the text had changed), so the
    posted raise was never taken."""
    log = await stopped_while_asking()
    state = RunState.fold(log)
    [question] = state.open_escalations
    config = EngineConfig(max_tokens=1000)
    assert still_crossed(state, config) is not None  # unanswered: refused, as before
    assert still_crossed(state, config, answers={question.escalation_id: "stop"}) is not None
    assert still_crossed(state, config, answers={question.escalation_id: "raise"}) is None

    bus = EventBus("q4", state=state)
    broker = EscalationBroker(bus, policy="wait")
    budget = BudgetTracker(bus, config, broker)
    assert broker.decide(question.escalation_id, "raise", "human:ann")  # from the inbox
    await asyncio.wait_for(budget.admit("a"), 2)
    assert len(bus.state.escalations) == 1  # the open question, taken: no second one
    resolved = bus.state.escalations[question.escalation_id]
    assert (resolved.decision, resolved.decided_by) == ("raise", "human:ann")
    assert budget.run.max_tokens == 2250  # as a "raise" lifts 1500 spent over 1000


async def test_a_resume_with_higher_limits_closes_the_budget_question_left_open():
    """Before, the question stayed open for good: listed by ``shopfloor escalations`` as
    waiting, counted in shopfloor_escalations_open, and an answer to it went nowhere."""
    state = RunState.fold(await stopped_while_asking())
    [question] = state.open_escalations
    bus = EventBus("q4", state=state)
    budget = BudgetTracker(bus, EngineConfig(max_tokens=1000), EscalationBroker(bus))
    budget.set_limits(BudgetLimits(max_tokens=5000))  # shopfloor resume RUN --max-tokens 5000
    budget.close_stale_questions()
    assert bus.state.open_escalations == []
    closed = bus.state.escalations[question.escalation_id]
    assert (closed.decision, closed.decided_by) == ("raise", "resume")

    still_over = EventBus("q4", state=RunState.fold(await stopped_while_asking()))
    budget = BudgetTracker(still_over, EngineConfig(max_tokens=1000), EscalationBroker(bus))
    budget.close_stale_questions()
    assert len(still_over.state.open_escalations) == 1  # still crossed: left to be answered
