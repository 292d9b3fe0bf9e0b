"""Projections kept in the append's transaction and rebuilt from the log alike; the decisions
inbox other processes post to and the run's engine takes from. Runs on both backends."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import pytest
from plans import TWO_TASKS

from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.events import (
    BlueprintProposed,
    EscalationRaised,
    EscalationResolved,
    LearningRecorded,
    RunStarted,
    TaskState,
    TaskStateChanged,
)
from engine.protocols import ExternalDecision
from storage.errors import StorageError
from storage.inbox import take_decisions

THREE_TASKS = Blueprint(
    spec="A greeting CLI, revised",
    acceptance_criteria=["prints hello"],
    tasks=[
        Task(id="core", title="Greeting function v2", files=["greet.py"]),
        Task(id="docs", title="Docs", files=["README.md"]),
    ],
)


def busy_run(bus: EventBus) -> list:
    """A run touching every projection: tasks across a blueprint revision, escalations
    raised and resolved, learnings."""
    script = [
        RunStarted(
            request="Build a greeting CLI",
            repo="/repos/greet",
            base_branch="main",
            base_commit="0" * 40,
            integration_branch="shopfloor/integration",
        ),
        BlueprintProposed(blueprint=TWO_TASKS),
        TaskStateChanged(task_id="core", state=TaskState.RUNNING, attempt=1),
        TaskStateChanged(task_id="core", state=TaskState.GATES, attempt=2, reason="retry"),
        TaskStateChanged(task_id="core", state=TaskState.RUNNING, attempt=1),  # late, lower
        EscalationRaised(
            escalation_id="e1", kind="twin", question="Ship it?", options=["approve", "reject"]
        ),
        EscalationRaised(
            escalation_id="e2",
            kind="budget",
            question="Raise the budget?",
            options=["approve", "stop"],
            default="stop",
            task_id="core",
        ),
        EscalationResolved(escalation_id="e1", decision="approve", decided_by="human:ada"),
        BlueprintProposed(blueprint=THREE_TASKS, revision=2, source="review"),
        TaskStateChanged(task_id="ghost", state=TaskState.FAILED, attempt=1),  # unknown: ignored
        LearningRecorded(
            learning_id="l1", kind="trap", text="mind the tz", source="retry:core", tags=["time"]
        ),
    ]
    return [bus.emit(ev) for ev in script]


async def test_projections_follow_the_log(store):
    bus = EventBus("r-busy")
    emitted = busy_run(bus)
    for start in range(0, len(emitted), 3):  # several batches, as the writer would
        await store.append(emitted[start : start + 3])

    tasks = {t.task_id: t for t in await store.tasks("r-busy")}
    assert sorted(tasks) == ["core", "docs"]  # "cli" left with revision 2, "docs" came
    core = tasks["core"]
    assert (core.title, core.state, core.attempts, core.reason) == (
        "Greeting function v2",
        "running",
        2,
        "",
    )
    assert (tasks["docs"].state, tasks["docs"].attempts) == ("pending", 0)

    e1, e2 = await store.escalations("r-busy")
    assert (e1.decision, e1.decided_by, e1.is_open) == ("approve", "human:ada", False)
    assert e1.decided_at == emitted[7].ts and e1.raised_at == emitted[5].ts
    assert (e2.options, e2.default, e2.task_id, e2.is_open) == (
        ("approve", "stop"),
        "stop",
        "core",
        True,
    )
    assert [e.escalation_id for e in await store.open_escalations("r-busy")] == ["e2"]

    [learning] = await store.learnings("r-busy")
    assert (learning.kind, learning.text, learning.tags) == ("trap", "mind the tz", ("time",))


async def test_rebuild_equals_the_incremental_projections(store, emit_little_run):
    busy, little = EventBus("r-busy"), EventBus("r-little")
    emitted = busy_run(busy)
    for event in emitted:  # one event per transaction: the most incremental there is
        await store.append([event])
    await store.append(emit_little_run(little))
    incremental = await store.projection_rows()
    assert all(incremental[name] for name in ("runs", "tasks", "escalations", "learnings"))

    assert await store.rebuild_projections() == 2
    assert await store.projection_rows() == incremental


# -- the decisions inbox ---------------------------------------------------------------------


@pytest.fixture
async def escalated(store):
    bus = EventBus("r-inbox")
    await store.append(busy_run(bus))
    return store


async def resolve_e2(store, decision: str, decided_by: str) -> None:
    """The run logs e2's answer itself."""
    resolved = EscalationResolved(
        run_id="r-inbox", seq=12, escalation_id="e2", decision=decision, decided_by=decided_by
    )
    await store.append([resolved])


async def nothing_arrives(store) -> None:
    stream = store.decisions("r-inbox", poll_s=0.01)
    async with contextlib.aclosing(stream):
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(stream), timeout=0.3)


async def test_a_posted_decision_reaches_the_run_once(escalated):
    store = escalated
    await store.post_decision("r-inbox", "e2", "approve", "human:bob", note="fine")

    stream = store.decisions("r-inbox", poll_s=0.01)
    async with contextlib.aclosing(stream):
        first = await asyncio.wait_for(anext(stream), timeout=5)
        assert first == ExternalDecision("e2", "approve", "human:bob", "fine")
        again = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.1)
        assert not again.done()  # consumed: never delivered twice
        again.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await again


async def test_decisions_arrive_while_the_run_waits(escalated):
    store = escalated
    stream = store.decisions("r-inbox", poll_s=0.01)
    async with contextlib.aclosing(stream):
        waiting = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.1)  # the run is listening before anything is posted
        assert not waiting.done()
        await store.post_decision("r-inbox", "e2", "stop", "human:cy")
        decision = await asyncio.wait_for(waiting, timeout=5)
    assert (decision.escalation_id, decision.decision) == ("e2", "stop")


WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"
ALREADY = rf"^escalation 'e1' of run r-inbox was already answered: approve by human:ada at {WHEN}$"
NO_OPTION = (
    r"^'maybe' is not an option of escalation 'e2' of run r-inbox; choose one of: approve, stop$"
)


@pytest.mark.parametrize(
    ("escalation", "decision", "message"),
    [
        ("e9", "approve", r"^no escalation 'e9' of run r-inbox$"),
        ("e1", "reject", ALREADY),
        ("e2", "maybe", NO_OPTION),
    ],
)
async def test_bad_decisions_are_refused_in_one_line(escalated, escalation, decision, message):
    with pytest.raises(StorageError, match=message):
        await escalated.post_decision("r-inbox", escalation, decision, "human:dee")


async def test_a_second_waiting_decision_is_refused(escalated):
    await escalated.post_decision("r-inbox", "e2", "approve", "human:ed")
    waiting = rf"was already answered: approve by human:ed at {WHEN}; the run has not taken it yet$"
    with pytest.raises(StorageError, match=waiting):
        await escalated.post_decision("r-inbox", "e2", "stop", "human:flo")
    # The refused one left nothing behind: the run takes the first decision, and only it.
    taken = await take_decisions(escalated.engine, "r-inbox")
    assert [(d.decision, d.decided_by) for d in taken] == [("approve", "human:ed")]


async def test_a_decision_overtaken_by_the_run_is_dropped(escalated):
    store = escalated
    await store.post_decision("r-inbox", "e2", "approve", "human:gus")
    # The run resolved e2 itself (the twin, a timeout) before taking the posted decision.
    await resolve_e2(store, "stop", "timeout")
    await nothing_arrives(store)
    assert await store.open_escalations() == []


async def test_a_decision_taken_by_a_process_killed_before_logging_it_is_not_lost(escalated):
    store = escalated
    await store.post_decision("r-inbox", "e2", "approve", "human:hal", note="go")
    # The run's process took it from the inbox and was killed before its EscalationResolved
    # was logged: the escalation is still open, the decision no longer waits.
    assert [d.decision for d in await take_decisions(store.engine, "r-inbox")] == ["approve"]
    assert [e.escalation_id for e in await store.open_escalations("r-inbox")] == ["e2"]

    stream = store.decisions("r-inbox", poll_s=0.01)  # the process that resumes the run
    async with contextlib.aclosing(stream):
        first = await asyncio.wait_for(anext(stream), timeout=5)
        assert first == ExternalDecision("e2", "approve", "human:hal", "go")
        again = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.1)
        assert not again.done()  # handed over once, on taking the run over
        again.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await again


async def test_a_taken_decision_the_run_logged_is_not_handed_over_again(escalated):
    store = escalated
    await store.post_decision("r-inbox", "e2", "approve", "human:ivy")
    await take_decisions(store.engine, "r-inbox")
    await resolve_e2(store, "approve", "human:ivy")
    await nothing_arrives(store)


async def test_open_escalations_across_runs(store):
    for run_id in ("r-x", "r-y"):
        await store.append(busy_run(EventBus(run_id)))
    assert [(e.run_id, e.escalation_id) for e in await store.open_escalations()] == [
        ("r-x", "e2"),
        ("r-y", "e2"),
    ]


async def test_prune_deletes_only_long_finished_runs(store, emit_little_run):
    await store.append(emit_little_run(EventBus("r-done")))
    await store.append(busy_run(EventBus("r-live")))  # still running
    done = await store.get_run("r-done")
    assert done is not None and done.finished_at is not None

    assert await store.prune(timedelta(days=30), now=done.finished_at + timedelta(days=29)) == []
    later = done.finished_at + timedelta(days=31)
    assert await store.prune(timedelta(days=30), now=later) == ["r-done"]

    assert await store.get_run("r-done") is None
    assert await store.count_events("r-done") == 0
    assert await store.tasks("r-done") == []
    assert await store.get_run("r-live") is not None  # never prunes a running run
    assert await store.prune(timedelta(0), now=later + timedelta(days=999)) == []
