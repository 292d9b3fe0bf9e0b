"""``shopfloor db rebuild`` while a run writes: the run's progress is not lost.

A person rebuilds the projections when ``runs`` or ``status`` look wrong, often with a run in
flight. The rebuild empties the projections and replays the log in one transaction; a batch
the run appends meanwhile must land either in what the rebuild replays or on the rows it
wrote, never in between. Runs on both backends, each store on its own connection pool as the
run's process and the rebuilding shell would be.
"""

from __future__ import annotations

import asyncio

from plans import TWO_TASKS

from engine.bus import EventBus
from engine.events import (
    AgentOutput,
    BlueprintProposed,
    Merged,
    RunStarted,
    TaskState,
    TaskStateChanged,
)
from storage.projector import rebuild
from storage.store import SqlEventStore


def started(bus: EventBus) -> list:
    script = [
        RunStarted(
            request="Build a greeting CLI",
            repo="/repos/greet",
            base_branch="main",
            base_commit="0" * 40,
            integration_branch="shopfloor/wip/r-live",
        ),
        BlueprintProposed(blueprint=TWO_TASKS),
        TaskStateChanged(task_id="core", state=TaskState.RUNNING, attempt=1),
    ]
    return [bus.emit(event) for event in script]


async def test_a_batch_appended_during_a_rebuild_keeps_its_projection(store, backend_url):
    bus = EventBus("r-live")
    await store.append(started(bus))
    merged = [
        bus.emit(Merged(task_id="core", attempt=1, commit="a" * 40)),
        bus.emit(TaskStateChanged(task_id="core", state=TaskState.MERGED, attempt=1)),
    ]
    shell = await SqlEventStore.open(backend_url)
    try:
        async with shell.engine.begin() as conn:
            await rebuild(conn)
            # The run's writer appends its batch while the rebuild has not committed yet.
            append = asyncio.create_task(store.append(merged))
            await asyncio.sleep(0.5)
        await asyncio.wait_for(append, 10)
    finally:
        await shell.close()

    [core] = [task for task in await store.tasks("r-live") if task.task_id == "core"]
    assert core.state == TaskState.MERGED.value
    run = await store.get_run("r-live")
    assert run is not None and run.tasks_merged == 1
    live = await store.projection_rows()
    await store.rebuild_projections()
    assert await store.projection_rows() == live


def long_log(run_id: str, events: int) -> list:
    """A run of ``events`` events, mostly agent lines, its tasks moving now and then."""
    bus = EventBus(run_id)
    logged = started(bus)
    for n in range(events - len(logged)):
        if n % 50 == 0:
            state = TaskState.GATES if n % 100 == 0 else TaskState.RUNNING
            logged.append(bus.emit(TaskStateChanged(task_id="cli", state=state, attempt=1)))
        else:
            logged.append(bus.emit(AgentOutput(agent_id="eng-1", text=f"line {n}")))
    return logged


async def test_a_run_keeps_writing_while_a_long_log_is_rebuilt(store, backend_url):
    # Enough log that replaying it takes a while: the rebuild must not hold the writers off
    # for all of it (a run's writer queues, an approve from another shell times out).
    for n in range(3):
        log = long_log(f"r-old-{n}", 6000)
        for start in range(0, len(log), 2000):
            await store.append(log[start : start + 2000])
    bus = EventBus("r-live")
    await store.append(started(bus))
    shell = await SqlEventStore.open(backend_url)
    try:
        rebuilding = asyncio.create_task(shell.rebuild_projections())
        await asyncio.sleep(0)  # the rebuild starts
        # The run goes on writing, a batch at a time, for as long as the rebuild lasts.
        appended = during = 0
        while not rebuilding.done():
            appended += 1
            line = AgentOutput(agent_id="eng-1", text=f"live {appended}")
            retry = TaskStateChanged(task_id="cli", state=TaskState.RUNNING, attempt=appended)
            await asyncio.wait_for(store.append([bus.emit(line), bus.emit(retry)]), 10)
            during += not rebuilding.done()
        assert await rebuilding == 4
        # Held off by the rebuild, the run got at most its first batch in before it.
        assert during >= 3
        merged = [
            bus.emit(Merged(task_id="core", attempt=1, commit="a" * 40)),
            bus.emit(TaskStateChanged(task_id="core", state=TaskState.MERGED, attempt=1)),
        ]
        await store.append(merged)
    finally:
        await shell.close()

    cli, core = await store.tasks("r-live")
    assert (core.state, cli.state) == (TaskState.MERGED.value, TaskState.RUNNING.value)
    assert cli.attempts == appended  # the last batch's, appended as the rebuild ended
    run = await store.get_run("r-live")
    assert run is not None and run.tasks_merged == 1 and run.last_seq == merged[-1].seq
    rebuilt = await store.projection_rows()
    async with store.engine.begin() as conn:  # a fresh replay of the whole log, at rest
        await rebuild(conn)
    assert await store.projection_rows() == rebuilt
