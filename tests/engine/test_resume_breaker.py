"""A run stopped while its circuit breaker's question waits resumes on that question.

Measured with python-dotenv and the SIM: a task failed lint the same way twice, the breaker
asked "retry / skip / abort", the run was stopped with Ctrl-C, `shopfloor answer esc-1
abort` was posted and the run resumed. The resume took the answer ("answered while the run
was stopped: abort") and then ignored it: the task's second attempt, already over, was built
again under its own agent id, then a third, and the run failed "out of attempts". A `skip`
burnt the same attempts, and a `retry` redid attempt 2 instead of giving a third.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_full_pipeline import SCRIPTS, make_factory
from test_pipeline import RUN_ID, ContentGate, FakeEngineer, blueprint, writes

from engine.blueprint import Task
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.events import (
    BlueprintProposed,
    CircuitBreakerTripped,
    EscalationRaised,
    EscalationResolved,
    EventBase,
    Outcome,
    TaskState,
    TaskStateChanged,
)
from engine.resume import plan_resume
from engine.state import RunState

CONFIG = EngineConfig(workers=2, max_attempts=5, escalation_policy="wait")
GATES = (ContentGate("tests", "core.txt", "hello"),)


async def stopped_on_the_breaker(repo: Path, root: Path) -> list[EventBase]:
    """core writes the wrong text twice; the run is stopped while the breaker asks."""
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    wrong = FakeEngineer({"core": writes({"core.txt": "bye\n"}), "cli": SCRIPTS["cli"]})
    factory = make_factory(repo, root, bus, engineer=wrong, task_gates=GATES, config=CONFIG)
    run = asyncio.create_task(factory.run())
    while not bus.state.open_escalations:  # noqa: ASYNC110 - polling the folded state
        await asyncio.sleep(0.01)
    run.cancel()  # Ctrl-C, or a kill: no RunFinished
    await asyncio.gather(run, return_exceptions=True)
    assert [len(wrong.attempts("core"))] == [2]
    return events


@pytest.mark.parametrize("answer", ["retry", "skip", "abort"])
async def test_an_answer_posted_while_stopped_on_the_breaker_is_what_the_resume_does(
    user_repo, worktree_root, answer
):
    log = await stopped_on_the_breaker(user_repo, worktree_root)
    (esc,) = RunState.fold(log).open_escalations
    assert esc.kind == "circuit_breaker"

    bus = EventBus(RUN_ID, state=RunState.fold(log))
    later: list[EventBase] = []
    bus.listen(later.append)
    fixed = FakeEngineer(dict(SCRIPTS))
    factory = make_factory(
        user_repo, worktree_root, bus, engineer=fixed, task_gates=GATES, config=CONFIG
    )
    assert factory.broker.decide(esc.escalation_id, answer, "human:ann")  # posted while stopped
    state = await asyncio.wait_for(factory.run(), 60)

    assert not [e for e in later if isinstance(e, EscalationRaised)]  # the same question
    assert not [e for e in later if isinstance(e, CircuitBreakerTripped)]  # tripped once
    assert state.escalations[esc.escalation_id].decision == answer
    core = [job.attempt for job in fixed.attempts("core")]
    if answer == "retry":  # a third attempt, not the second again
        assert core == [3]
        assert state.outcome is Outcome.SHIPPED, state.reason
        assert state.tasks["core"].attempts == 3
    elif answer == "skip":
        assert core == []
        assert state.tasks["core"].reason == "circuit breaker: skipped by human:ann"
        assert state.outcome is Outcome.FAILED
    else:
        assert core == []
        assert state.outcome is Outcome.FAILED
        assert state.reason == "aborted after the circuit breaker tripped on task core"


async def test_a_breaker_question_left_unanswered_is_asked_again_not_the_attempt_redone(
    user_repo, worktree_root
):
    """Resumed with nobody having answered, the run waits on the same question (the reject
    policy here answers it at once) rather than building the finished attempt again."""
    log = await stopped_on_the_breaker(user_repo, worktree_root)
    bus = EventBus(RUN_ID, state=RunState.fold(log))
    fixed = FakeEngineer(dict(SCRIPTS))
    config = EngineConfig(workers=2, max_attempts=5, escalation_policy="reject")
    factory = make_factory(
        user_repo, worktree_root, bus, engineer=fixed, task_gates=GATES, config=config
    )
    state = await asyncio.wait_for(factory.run(), 60)
    assert fixed.attempts("core") == []
    (esc,) = state.escalations.values()
    assert (esc.decision, esc.decided_by) == ("skip", "policy:reject")


def test_a_task_skipped_at_its_breaker_is_not_built_again_by_a_resume():
    """A person (or the reject policy, or the timeout) answered skip: the task failed, the
    run went on and was stopped later. The resume built the skipped task again from its
    next attempt, as it does a task that failed its attempts, spending on work the owner had
    said to leave."""
    plan = blueprint(Task(id="core", title="Core"), Task(id="cli", title="CLI"))
    events: list[EventBase] = [
        BlueprintProposed(blueprint=plan),
        TaskStateChanged(task_id="core", state=TaskState.RUNNING, attempt=2),
        TaskStateChanged(task_id="core", state=TaskState.GATES, attempt=2),
        CircuitBreakerTripped(task_id="core", attempt=2, signature="Gate 'tests' failed"),
        EscalationRaised(
            escalation_id="esc-1",
            kind="circuit_breaker",
            task_id="core",
            question="Task core failed the same way twice (Gate 'tests' failed). Retry?",
            options=["retry", "skip", "abort"],
        ),
        EscalationResolved(escalation_id="esc-1", decision="skip", decided_by="human:ann"),
        TaskStateChanged(
            task_id="core",
            state=TaskState.FAILED,
            attempt=2,
            reason="circuit breaker: skipped by human:ann",
        ),
        TaskStateChanged(task_id="cli", state=TaskState.RUNNING, attempt=1),
    ]
    state = RunState.fold(
        [e.model_copy(update={"run_id": RUN_ID, "seq": n}) for n, e in enumerate(events, 1)]
    )
    plan_of_resume = plan_resume(state, {})
    assert "core" not in plan_of_resume.restarts
    assert plan_of_resume.restarts["cli"] == (1, "")
