"""Pure stage decisions, the escalation broker, budgets and the circuit breaker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from engine.blueprint import Blueprint, Task
from engine.breaker import CircuitBreaker, failure_signature
from engine.budget import BudgetStop, BudgetTracker
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.escalations import EscalationBroker
from engine.events import (
    AgentStarted,
    BudgetUpdated,
    EscalationRaised,
    EscalationResolved,
    EventBase,
    LLMCallFinished,
)
from engine.protocols import EmitFn, ExternalDecision
from engine.roles import BlueprintPatch, CriticReport, TwinVerdict
from engine.stages import apply_patches, blueprint_text, kill_gate, quorum_reached, twin_route

BP = Blueprint(
    spec="A greeter",
    tasks=[Task(id="core", title="Core"), Task(id="cli", title="CLI", depends_on=["core"])],
)


def critic(score: float, risk: str = "low", cannibalizes: str | None = None) -> CriticReport:
    names = ("value", "feasibility", "clarity", "scope", "testability")
    return CriticReport(
        scores=dict.fromkeys(names, score), compliance_risk=risk, cannibalizes=cannibalizes
    )


def test_each_kill_gate_trips_on_its_own_condition_and_a_good_request_passes():
    config = EngineConfig(min_critic_score=6)
    assert kill_gate(critic(8), config) is None
    low = kill_gate(critic(4), config)
    assert low is not None and low.gate == "min_critic_score"
    assert "4.0/10 is below 6" in low.reason
    risky = kill_gate(critic(8, risk="high"), config)
    assert risky is not None and risky.gate == "compliance_risk"
    dup = kill_gate(critic(8, cannibalizes="greet.core already greets"), config)
    assert dup is not None and dup.gate == "cannibalization"
    assert "greet.core already greets" in dup.reason
    assert (
        kill_gate(critic(8, cannibalizes="x"), EngineConfig(kill_on_cannibalization=False)) is None
    )


def test_a_critic_score_exactly_at_the_minimum_passes_despite_float_rounding():
    names = ("value", "feasibility", "clarity", "scope", "testability")
    report = CriticReport(scores=dict(zip(names, (9.7, 5.6, 6.3, 7.0, 2.9), strict=True)))
    assert kill_gate(report, EngineConfig(min_critic_score=6.3)) is None  # the mean is 6.3
    below = kill_gate(report, EngineConfig(min_critic_score=6.31))
    assert below is not None and "6.3/10 is below 6.31" in below.reason


def test_patches_apply_to_the_blueprint_json_and_invalid_ones_are_refused():
    text = blueprint_text(BP)
    assert '"title": "CLI"' in text
    good = BlueprintPatch(search='"title": "CLI"', replace='"title": "Command line"')
    absent = BlueprintPatch(search="no such text", replace="x")
    cycle = BlueprintPatch(
        search='"id": "core",\n      "title": "Core",\n      "description": "",\n'
        '      "depends_on": []',
        replace='"id": "core",\n      "title": "Core",\n      "description": "",\n'
        '      "depends_on": ["cli"]',
    )
    result = apply_patches(BP, [good, absent, cycle])
    assert result.applied == 1
    assert result.blueprint.task("cli").title == "Command line"
    assert result.blueprint.task("core").depends_on == []
    assert result.refused[0] == "patch 2: SEARCH text not found"
    assert "cycle" in result.refused[1]


def test_a_patch_that_changes_nothing_is_not_counted_as_a_new_revision():
    same = BlueprintPatch(search='"title": "CLI"', replace='"title":   "CLI"')  # spacing only
    result = apply_patches(BP, [same])
    assert (result.applied, result.blueprint, result.refused) == (0, BP, [])


def test_quorum_counts_reviewers_at_or_above_the_threshold():
    assert quorum_reached({"a": 95, "b": 96, "c": 10}, 95, 2)
    assert not quorum_reached({"a": 94, "b": 96, "c": 10}, 95, 2)
    assert EngineConfig().quorum_for(4) == 3 and EngineConfig().quorum_for(2) == 2
    assert EngineConfig(review_quorum=5).quorum_for(3) == 3


def test_twin_routes_low_confidence_and_redlines_to_a_human():
    config = EngineConfig(twin_min_confidence=0.7, twin_change_rounds=1)
    assert twin_route(TwinVerdict(decision="ACCEPT", confidence=0.9), config, 0) == "accept"
    assert twin_route(TwinVerdict(decision="REJECT", confidence=0.9), config, 0) == "reject"
    assert twin_route(TwinVerdict(decision="CHANGE", confidence=0.9), config, 0) == "change"
    assert twin_route(TwinVerdict(decision="CHANGE", confidence=0.9), config, 1) == "escalate"
    assert twin_route(TwinVerdict(decision="ACCEPT", confidence=0.5), config, 0) == "escalate"
    red = TwinVerdict(decision="ACCEPT", confidence=0.99, redlines=["no new deps"])
    assert twin_route(red, config, 0) == "escalate"


def test_failure_signatures_ignore_line_numbers_addresses_and_timings():
    one = (
        "FAILED tests/test_x.py::test_total - AssertionError: at 0x7f3a2b\n"
        "tests/test_x.py:41: in test_total\n1 failed in 0.31s"
    )
    two = (
        "FAILED tests/test_x.py::test_total - AssertionError: at 0x7f99aa\n"
        "tests/test_x.py:57: in test_total\n1 failed in 1.02s"
    )
    assert failure_signature(one) == failure_signature(two)
    assert failure_signature(one) == "tests/test_x.py::test_total | AssertionError"
    other = "FAILED tests/test_x.py::test_other - KeyError"
    assert failure_signature(other) != failure_signature(one)
    breaker = CircuitBreaker()
    assert breaker.record("t", one) is None
    assert breaker.record("t", other) is None
    assert breaker.record("t", two) == "tests/test_x.py::test_total | AssertionError"
    breaker.reset("t")
    assert breaker.record("t", two) is None


def test_a_tripped_breaker_says_the_failure_as_written_not_its_signature():
    """python-slugify's export task failed the lint gate twice; the question put to a person
    read "Gate 'lint' failed: _ new problem(s) ... (ruff's classic rules E_,E_,E_,F ...) / -
    slugify/__init__.py:_: F_ ...": the signature, with every number made "_"."""
    lint = (
        "Gate 'lint' failed: 1 new problem(s) since the baseline, which must go (10 already "
        "there before this run do not block): 11 lint problem(s) (ruff's classic rules "
        "E4,E7,E9,F: the repository configures no ruff)\n"
        "- slugify/__init__.py:3: F401 `.unique.unique_slugify` imported but unused; consider "
        "removing, adding to `__all__`, or using a redundant alias\n"
    )
    breaker = CircuitBreaker()
    assert breaker.record("export", lint) is None
    said = breaker.record("export", lint)
    assert said is not None
    assert "rules E4,E7,E9,F" in said and "slugify/__init__.py:3: F401" in said
    assert "_ new problem(s)" not in said
    assert len(said) <= 300 and said.endswith("…")
    params = "FAILED tests/test_x.py::test_total[EUR-2] - AssertionError"
    assert breaker.record("p", params) is None
    assert breaker.record("p", params.replace("EUR-2", "USD-3")) == (
        "tests/test_x.py::test_total[USD-3] | AssertionError"
    )


# -- escalations ---------------------------------------------------------------------------------


class FakeTwin:
    def __init__(self, answer: str) -> None:
        self.answer_with = answer
        self.asked: list[str] = []

    async def decide(self, request: str, blueprint: Blueprint, emit: EmitFn) -> TwinVerdict:
        return TwinVerdict(decision="ACCEPT", confidence=1.0)

    async def answer(
        self, question: str, options: Sequence[str], context: str, emit: EmitFn
    ) -> str:
        self.asked.append(question)
        return self.answer_with


class Inbox:
    """A DecisionSource fed by the test."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[ExternalDecision] = asyncio.Queue()

    async def decisions(
        self, run_id: str, *, until_asked: object = None
    ) -> AsyncIterator[ExternalDecision]:
        while True:
            yield await self.queue.get()


def recorded(bus: EventBus) -> list[EventBase]:
    events: list[EventBase] = []
    bus.listen(events.append)
    return events


async def test_the_reject_policy_takes_the_reject_like_option_at_once():
    bus = EventBus("r1")
    events = recorded(bus)
    broker = EscalationBroker(bus, policy="reject")
    decision = await broker.ask("circuit_breaker", "what now?", ["retry", "skip", "abort"])
    assert (decision.decision, decision.decided_by) == ("skip", "policy:reject")
    raised, resolved = events
    assert isinstance(raised, EscalationRaised) and isinstance(resolved, EscalationResolved)
    assert resolved.escalation_id == raised.escalation_id == "esc-1"
    assert bus.state.escalations["esc-1"].decision == "skip"


async def test_the_twin_policy_asks_the_twin_and_falls_back_to_waiting_on_a_bad_answer():
    bus = EventBus("r2")
    twin = FakeTwin("accept")
    broker = EscalationBroker(bus, policy="twin", twin=twin)
    decision = await broker.ask("twin", "accept the plan?", ["accept", "reject"])
    assert (decision.decision, decision.decided_by) == ("accept", "twin")
    assert twin.asked == ["accept the plan?"]

    twin.answer_with = "maybe"  # not an option: a human must answer
    broker2 = EscalationBroker(bus, policy="twin", twin=twin, timeout_s=0.05)
    late = await broker2.ask("twin", "second?", ["accept", "reject"], default="reject")
    assert (late.decision, late.decided_by) == ("reject", "timeout")


async def test_the_twin_policy_never_raises_a_budget_a_person_or_the_timeout_decides():
    bus = EventBus("r2b")
    twin = FakeTwin("raise")  # a model would happily spend more of the owner's money
    broker = EscalationBroker(bus, policy="twin", twin=twin, timeout_s=0.05)
    decision = await broker.ask("budget", "raise?", ["raise", "stop"], default="stop")
    assert (decision.decision, decision.decided_by) == ("stop", "timeout")
    assert twin.asked == []

    broker2 = EscalationBroker(bus, policy="twin", twin=twin)
    ask = asyncio.create_task(broker2.ask("budget", "again?", ["raise", "stop"]))
    await asyncio.sleep(0.01)
    assert not ask.done()  # waits for a person
    assert broker2.decide("esc-2", "raise", "human:ann")
    assert (await asyncio.wait_for(ask, 2)).decided_by == "human:ann"


async def test_wait_policy_times_out_to_the_default():
    bus = EventBus("r3")
    broker = EscalationBroker(bus, policy="wait", timeout_s=0.05)
    decision = await broker.ask("budget", "raise?", ["raise", "stop"], default="stop")
    assert (decision.decision, decision.decided_by) == ("stop", "timeout")
    assert bus.state.escalations["esc-1"].decided_by == "timeout"


async def test_a_human_decides_in_process_or_through_the_decision_source():
    bus = EventBus("r4")
    inbox = Inbox()
    broker = EscalationBroker(bus, policy="wait", decisions=inbox)
    broker.start()
    ask = asyncio.create_task(broker.ask("review", "approve?", ["approve", "reject"]))
    await asyncio.sleep(0.01)
    assert not broker.decide("esc-1", "bogus", "human:ann")  # not an option
    await inbox.queue.put(ExternalDecision("esc-1", "approve", "human:bob", "looks fine"))
    decision = await asyncio.wait_for(ask, 2)
    assert (decision.decision, decision.decided_by, decision.note) == (
        "approve",
        "human:bob",
        "looks fine",
    )
    ask2 = asyncio.create_task(broker.ask("review", "again?", ["approve", "reject"]))
    await asyncio.sleep(0.01)
    assert broker.decide("esc-2", "reject", "human:ann")
    assert (await asyncio.wait_for(ask2, 2)).decided_by == "human:ann"
    assert not broker.decide("esc-2", "approve", "human:ann")  # already resolved
    await broker.close()


async def test_a_resumed_run_reattaches_to_the_open_escalation_it_asks_again():
    bus = EventBus("r5")
    bus.emit(
        EscalationRaised(escalation_id="esc-1", kind="twin", question="ok?", options=["a", "b"])
    )
    broker = EscalationBroker(bus, policy="reject", timeout_s=None)
    broker.decide("esc-1", "a", "human:ann")  # arrives before the stage asks again
    decision = await broker.ask("twin", "ok?", ["a", "b"])
    assert (decision.escalation_id, decision.decision) == ("esc-1", "a")
    assert len(bus.state.escalations) == 1


# -- budgets -------------------------------------------------------------------------------------


async def test_crossing_the_run_budget_pauses_new_work_until_a_decision():
    bus = EventBus("r6")
    events = recorded(bus)
    broker = EscalationBroker(bus, policy="wait")
    budget = BudgetTracker(bus, EngineConfig(max_tokens=1000, task_max_tokens=5000), broker)
    bus.emit(AgentStarted(agent_id="eng-1", role="engineer", model="m", task_id="core"))
    bus.emit(
        LLMCallFinished(
            agent_id="eng-1",
            role="engineer",
            provider="p",
            model="m",
            input_tokens=900,
            output_tokens=200,
            cost_usd=0.01,
        )
    )
    await asyncio.sleep(0)
    updates = [e for e in events if isinstance(e, BudgetUpdated)]
    assert [(u.scope, u.tokens, u.exceeded) for u in updates] == [
        ("run", 1100, "tokens"),
        ("task", 1100, None),
    ]
    assert bus.state.tasks == {} and bus.state.budget is not None
    admit = asyncio.create_task(budget.admit("core"))
    await asyncio.sleep(0.01)
    assert not admit.done()  # paused
    (open_esc,) = bus.state.open_escalations
    assert open_esc.kind == "budget" and open_esc.options == ["raise", "stop"]
    broker.decide(open_esc.escalation_id, "raise", "human:ann")
    await asyncio.wait_for(admit, 2)
    assert budget.run.max_tokens == 2000
    stopped = asyncio.create_task(budget.admit())
    budget.run.tokens = 5000
    await asyncio.sleep(0.01)
    broker.decide(bus.state.open_escalations[0].escalation_id, "stop", "human:ann")
    with pytest.raises(BudgetStop, match="budget exceeded: the run spent 5000 tokens"):
        await asyncio.wait_for(stopped, 2)


async def test_a_task_over_its_budget_pauses_alone_while_other_tasks_start():
    bus = EventBus("r7")
    broker = EscalationBroker(bus, policy="wait")
    budget = BudgetTracker(bus, EngineConfig(max_tokens=100_000, task_max_tokens=500), broker)
    bus.emit(AgentStarted(agent_id="eng-1", role="engineer", model="m", task_id="a"))
    bus.emit(
        LLMCallFinished(
            agent_id="eng-1", role="engineer", provider="p", model="m", input_tokens=600
        )
    )
    await asyncio.sleep(0)
    paused = asyncio.create_task(budget.admit("a"))
    await asyncio.sleep(0.01)
    assert not paused.done()
    (open_esc,) = bus.state.open_escalations
    assert open_esc.task_id == "a"
    await asyncio.wait_for(budget.admit("b"), 0.5)  # within its budget: no wait behind "a"
    await asyncio.wait_for(budget.admit(), 0.5)  # the run is within its budget too
    broker.decide(open_esc.escalation_id, "stop", "human:ann")
    with pytest.raises(BudgetStop, match="task a") as stop:
        await asyncio.wait_for(paused, 2)
    assert stop.value.scope == "task"


async def test_cached_prompt_tokens_count_against_the_token_budget():
    bus = EventBus("r8")
    broker = EscalationBroker(bus, policy="wait")
    budget = BudgetTracker(bus, EngineConfig(max_tokens=1000), broker)
    bus.emit(
        LLMCallFinished(
            agent_id="critic",
            role="critic",
            provider="anthropic",
            model="m",
            input_tokens=10,
            cache_read_tokens=1500,
            cache_write_tokens=200,
            output_tokens=40,
        )
    )
    assert (budget.run.tokens, budget.run.exceeded()) == (1750, "tokens")
