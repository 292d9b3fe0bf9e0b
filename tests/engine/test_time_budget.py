"""The run's time budget (``--max-duration``): the time processes drove the run, not the
hours it lay stopped, crossed asks the budget question and a stop keeps the run resumable.

The bus's clock stamps the events and is what the budget reads, so a test's clock jumps two
hours inside one engineer's attempt instead of the test waiting them out.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from test_full_pipeline import SCRIPTS, make_factory
from test_pipeline import RUN_ID, FakeEngineer

from engine.budget import BudgetStop, BudgetTracker
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.escalations import EscalationBroker
from engine.events import (
    AgentOutput,
    BudgetLimitsSet,
    EventBase,
    Outcome,
    RunFinished,
    RunInterrupted,
    RunResumed,
    RunStarted,
    StageChanged,
)
from engine.protocols import EmitFn, EngineerJob, EngineerReport
from engine.run_views import EscalationView
from engine.spend import BudgetLimits, still_crossed
from engine.state import RunState

HOUR = timedelta(hours=1)


class Clock:
    """Now, plus however far the test moved it on."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


@dataclass
class SlowEngineer(FakeEngineer):
    """Core's attempt takes two hours of the clock's."""

    clock: Clock | None = None

    async def work(self, job: EngineerJob, emit: EmitFn) -> EngineerReport:
        if job.task.id == "core" and self.clock is not None:
            self.clock.ahead += 2 * HOUR
        return await super().work(job, emit)


AN_HOUR = EngineConfig(workers=2, max_duration_s=3600, escalation_policy="reject")


def at(hours: float) -> datetime:
    return datetime(2026, 1, 1, 22, tzinfo=UTC) + hours * HOUR


def test_the_driven_time_leaves_out_the_hours_a_run_lay_stopped():
    """Interrupted after an hour, resumed nine hours later, driven half an hour more: 1.5h.
    Crashed (its log just ends), resumed four hours later: the span ends at its last event.
    Abandoned the next day: the day is not counted either."""
    start = RunStarted(request="r", repo=".", base_branch="main", base_commit="c",
                       integration_branch="i")  # fmt: skip
    log: list[EventBase] = [
        start.model_copy(update={"seq": 1, "ts": at(0)}),
        StageChanged(seq=2, ts=at(1), stage="critic"),
        RunInterrupted(seq=3, ts=at(1)),
        RunResumed(seq=4, ts=at(10)),
        StageChanged(seq=5, ts=at(10.5), stage="blueprint"),
    ]
    assert RunState.fold(log).driven_seconds() == 1.5 * 3600
    assert RunState.fold(log).driven_seconds(now=at(11)) == 2 * 3600  # a live run's clock
    log += [RunResumed(seq=6, ts=at(14)), StageChanged(seq=7, ts=at(14.25), stage="review")]
    assert RunState.fold(log).driven_seconds() == 1.75 * 3600
    log.append(RunFinished(seq=8, ts=at(40), outcome=Outcome.FAILED, reason="abandoned"))
    assert RunState.fold(log).driven_seconds() == 1.75 * 3600


async def test_a_run_over_its_time_asks_and_a_stop_keeps_it_resumable(user_repo, worktree_root):
    clock = Clock()
    bus = EventBus(RUN_ID, clock=clock)
    log: list[EventBase] = []
    bus.listen(log.append)
    engineer = SlowEngineer(dict(SCRIPTS), clock=clock)
    factory = make_factory(user_repo, worktree_root, bus, engineer=engineer, config=AN_HOUR)
    state = await asyncio.wait_for(factory.run(), 30)

    assert state.outcome is Outcome.RUNNING, state.reason  # stopped, resumable
    assert state.merged == ["core"]  # cli was not started: the hour was gone
    assert [j.task.id for j in engineer.jobs] == ["core"]
    [esc] = state.escalations.values()
    assert (esc.kind, esc.decision) == ("budget", "stop")
    assert "the run crossed its time budget" in esc.question
    assert ", 2h1m of 1h)" in esc.question or ", 2h of 1h)" in esc.question
    [notice] = [e for e in log if isinstance(e, AgentOutput) and e.agent_id == "budget"]
    assert notice.text.startswith("the run stops: budget exceeded: the run spent")
    assert state.budget is not None and state.budget.exceeded == "time"
    assert state.to_status()["budget"]["max_duration_s"] == 3600
    assert 2 * 3600 <= state.to_status()["budget"]["duration_s"] < 2.1 * 3600

    # It lies stopped all night; in the morning it is still over its hour: refused as is.
    clock.ahead += 10 * HOUR
    crossed = still_crossed(state, AN_HOUR)
    assert crossed is not None and crossed.text.startswith("over its time budget")
    assert crossed.raised.max_duration_s is not None and crossed.raised.max_duration_s >= 3 * 3600
    with pytest.raises(BudgetStop, match="over its time budget"):
        await resume(user_repo, worktree_root, log, clock)

    final, later = await resume(
        user_repo, worktree_root, log, clock, budget_limits=BudgetLimits(max_duration_s=4 * 3600)
    )
    assert final.outcome is Outcome.SHIPPED, final.reason
    assert final.merged == ["core", "cli"]
    [limits] = [e for e in later if isinstance(e, BudgetLimitsSet)]
    assert limits.max_duration_s == 4 * 3600
    # Its driven time is the two hours before the stop, not the night it lay stopped.
    assert 2 * 3600 <= final.driven_seconds() < 2.1 * 3600
    budget = final.to_status()["budget"]
    assert (budget["max_duration_s"], budget["exceeded"]) == (4 * 3600, None)


async def resume(repo, root, log: list[EventBase], clock: Clock, **kw: object):
    bus = EventBus(RUN_ID, state=RunState.fold(log), clock=clock)
    events: list[EventBase] = []
    bus.listen(events.append)
    factory = make_factory(repo, root, bus, config=AN_HOUR, **kw)
    return await asyncio.wait_for(factory.run(), 30), events


def an_hours_budget() -> tuple[Clock, EventBus, EscalationBroker, BudgetTracker]:
    """A started run's budget tracker with an hour's time budget, on a clock a test moves;
    its questions wait for an answer."""
    clock = Clock()
    bus = EventBus("r", clock=clock)
    start = RunStarted(request="r", repo=".", base_branch="main", base_commit="c",
                       integration_branch="i")  # fmt: skip
    bus.emit(start)
    broker = EscalationBroker(bus, policy="wait")
    return clock, bus, broker, BudgetTracker(bus, EngineConfig(max_duration_s=3600), broker)


async def asked(bus: EventBus) -> EscalationView:
    """The one question the run has open, once it is asked."""
    async with asyncio.timeout(5):
        while not bus.state.open_escalations:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    [esc] = bus.state.open_escalations
    return esc


async def test_a_raise_lifts_the_time_budget_past_the_time_driven():
    """Answered "raise", the limit doubles, or goes past what was driven by half again."""
    clock, bus, broker, tracker = an_hours_budget()
    await tracker.admit()  # within the hour: no question
    assert not bus.state.open_escalations
    clock.ahead += 3 * HOUR
    asking = asyncio.create_task(tracker.admit())
    esc = await asked(bus)
    assert "time budget" in esc.question
    broker.decide(esc.escalation_id, "raise", "human:test")
    await asyncio.wait_for(asking, 5)
    assert tracker.run.max_duration_s is not None and tracker.run.max_duration_s >= 4.5 * 3600
    assert tracker.run.max_duration_s.is_integer()  # 1.5 times the driven time, to the second
    assert bus.state.budget is not None and bus.state.budget.exceeded is None


async def test_a_stop_says_the_time_driven_when_it_was_answered():
    """Asked at 3h of 1h, stopped five hours later (a person's answer, or the escalation
    timeout's default): the stop says 8h, as status and the closing line do, not 3h."""
    clock, bus, broker, tracker = an_hours_budget()
    clock.ahead += 3 * HOUR
    asking = asyncio.create_task(tracker.admit())
    esc = await asked(bus)
    assert ", 3h of 1h)" in esc.question or ", 3h1m of 1h)" in esc.question
    clock.ahead += 5 * HOUR
    broker.decide(esc.escalation_id, "stop", "human:test")
    with pytest.raises(BudgetStop) as stopped:
        await asyncio.wait_for(asking, 5)
    assert str(stopped.value).endswith(("tokens, 8h of 1h", "tokens, 8h1m of 1h")), stopped.value
