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
from engine.events import BlueprintProposed, Merged, RunStarted, TaskState, TaskStateChanged
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
