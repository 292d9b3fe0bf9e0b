"""The projector folds a batch in memory and writes each touched row once: a whole batch gives
exactly the projections that one event per transaction gives, whatever the order of events
inside it, and the number of statements a batch costs does not grow with its size. Runs on
both backends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict

from sqlalchemy import event as sa_event

from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.events import (
    AgentOutput,
    BlueprintProposed,
    EscalationRaised,
    EscalationResolved,
    EventBase,
    LearningRecorded,
    Merged,
    RunStarted,
    TaskState,
    TaskStateChanged,
)
from storage.store import SqlEventStore


def _started() -> RunStarted:
    return RunStarted(
        request="batching",
        repo="/repos/batch",
        base_branch="main",
        base_commit="0" * 40,
        integration_branch="shopfloor/integration",
    )


def _blueprint(*ids: str, revision: int = 1) -> BlueprintProposed:
    tasks = [Task(id=i, title=f"{i} r{revision}") for i in ids]
    source = "planner" if revision == 1 else "review"
    return BlueprintProposed(
        blueprint=Blueprint(spec="s", tasks=tasks), revision=revision, source=source
    )


def tangled(run_id: str) -> list[EventBase]:
    """Events whose effects depend on their order inside one batch."""
    bus = EventBus(run_id)
    script: list[EventBase] = [
        _started(),
        TaskStateChanged(task_id="b", state=TaskState.FAILED, attempt=5),  # before its row
        _blueprint("a", "b", "c"),
        TaskStateChanged(task_id="a", state=TaskState.RUNNING, attempt=1),
        TaskStateChanged(task_id="a", state=TaskState.GATES, attempt=3, reason="retry"),
        TaskStateChanged(task_id="a", state=TaskState.RUNNING, attempt=2),  # late, lower
        TaskStateChanged(task_id="c", state=TaskState.FAILED, attempt=1, reason="boom"),
        _blueprint("a", "b", "d", revision=2),  # c goes, d comes, a keeps its progress
        TaskStateChanged(task_id="c", state=TaskState.RUNNING, attempt=2),  # gone: ignored
        TaskStateChanged(task_id="d", state=TaskState.GATES, attempt=1),
        Merged(task_id="b", attempt=1, commit="b" * 40),
        EscalationRaised(escalation_id="e1", question="ok?", options=["yes", "no"]),
        EscalationResolved(escalation_id="e1", decision="yes", decided_by="human:ada"),
        EscalationRaised(escalation_id="e1", question="again?", options=["yes", "no"]),
        EscalationRaised(escalation_id="e2", question="two?", options=["yes", "no"]),
        EscalationResolved(escalation_id="e2", decision="no", decided_by="twin"),
        EscalationResolved(escalation_id="e2", decision="yes", decided_by="human:bo", note="n"),
        LearningRecorded(learning_id="l1", kind="trap", text="first", source="review"),
        LearningRecorded(learning_id="l1", kind="rule", text="second", source="review"),
    ]
    return [bus.emit(ev) for ev in script]


async def test_one_batch_equals_one_event_per_transaction(store: SqlEventStore) -> None:
    events = tangled("r-single")
    for event in events:
        await store.append([event])
    # The very same events (same times) as one batch of another run.
    await store.append([ev.model_copy(update={"run_id": "r-batch"}) for ev in events])

    async def rows(run: str) -> list[dict[str, object]]:
        records = [
            *(await store.tasks(run)),
            *(await store.escalations(run)),
            *(await store.learnings(run)),
        ]
        return [{k: v for k, v in asdict(r).items() if k != "run_id"} for r in records]

    assert await rows("r-batch") == await rows("r-single")
    tasks = {t.task_id: t for t in await store.tasks("r-batch")}
    assert sorted(tasks) == ["a", "b", "d"]
    assert (tasks["a"].state, tasks["a"].attempts, tasks["a"].title) == ("running", 3, "a r2")
    assert (tasks["d"].state, tasks["d"].attempts) == ("gates", 1)
    assert (tasks["b"].state, tasks["b"].attempts) == ("pending", 0)
    e1, e2 = await store.escalations("r-batch")
    assert (e1.question, e1.is_open) == ("again?", True)
    assert (e2.decision, e2.decided_by, e2.note) == ("yes", "human:bo", "n")
    [learning] = await store.learnings("r-batch")
    assert (learning.kind, learning.text) == ("rule", "second")
    run = await store.get_run("r-batch")
    assert run is not None and (run.tasks_total, run.tasks_merged) == (3, 1)

    live = await store.projection_rows()
    await store.rebuild_projections()
    assert await store.projection_rows() == live


@contextmanager
def counting_statements(store: SqlEventStore) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    target = store.engine.sync_engine
    sa_event.listen(target, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa_event.remove(target, "before_cursor_execute", count)


def _busy_batch(bus: EventBus, tasks: int) -> list[EventBase]:
    script: list[EventBase] = []
    for i in range(tasks):
        task = f"t{i}"
        script += [
            TaskStateChanged(task_id=task, state=TaskState.RUNNING, attempt=1),
            AgentOutput(agent_id=f"eng-{i}", text="working"),
            TaskStateChanged(task_id=task, state=TaskState.GATES, attempt=1),
            Merged(task_id=task, attempt=1, commit="c" * 40),
            TaskStateChanged(task_id=task, state=TaskState.MERGED, attempt=1),
        ]
    return [bus.emit(ev) for ev in script]


async def test_statements_per_batch_do_not_grow_with_the_batch(store: SqlEventStore) -> None:
    bus = EventBus("r-count")
    ids = [f"t{i}" for i in range(400)]
    await store.append([bus.emit(_started()), bus.emit(_blueprint(*ids))])

    counts = []
    for tasks in (4, 40, 400):
        with counting_statements(store) as seen:
            await store.append(_busy_batch(bus, tasks))
        counts.append(len(seen))
    assert counts[0] == counts[1] == counts[2], counts
    assert counts[0] <= 6, counts  # events, runs, tasks, notify (+ BEGIN/COMMIT on some)

    merged = [t for t in await store.tasks("r-count") if t.state == "merged"]
    assert len(merged) == 400
    run = await store.get_run("r-count")
    assert run is not None and run.tasks_merged == 4 + 40 + 400
