"""The ready-queue scheduler: a task starts the moment its dependencies are merged.

No level barriers: whenever a worker frees up, the ready task with the longest remaining
critical path starts (ties in blueprint order). A failed task blocks everything downstream of
it; the rest of the graph goes on. The scheduler knows nothing of git or agents — it is
handed ``run_task`` and only keeps the graph's bookkeeping.

Readiness is incremental (:class:`~engine.dag.ReadyQueue`: in-degree counters and a heap) and
finished attempts arrive through a completion queue, so the cost per task stays flat at
10,000 tasks instead of growing with the graph.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.dag import Dag


@dataclass
class ScheduleResult:
    merged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failed and not self.blocked


class Scheduler:
    """Runs a DAG of tasks with at most ``workers`` at once."""

    def __init__(
        self,
        dag: Dag,
        workers: int,
        run_task: Callable[[str], Coroutine[Any, Any, bool]],
        *,
        on_ready: Callable[[str], None] = lambda _t: None,
        on_blocked: Callable[[str, str], None] = lambda _t, _by: None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.dag = dag
        self.workers = workers
        self._run_task = run_task
        self._on_ready = on_ready
        self._on_blocked = on_blocked
        self._position = {t: i for i, t in enumerate(dag.order)}

    async def run(self, already_merged: Iterable[str] = ()) -> ScheduleResult:
        """Run until every task merged, failed or is blocked by a failure."""
        done_before = set(already_merged)
        result = ScheduleResult(merged=[t for t in self.dag.order if t in done_before])
        queue = self.dag.ready_queue(result.merged)
        for task_id in queue.peek_all():
            self._on_ready(task_id)
        finished = _Finished()
        running: dict[asyncio.Task[bool], str] = {}
        settled: set[str] = set(result.merged)
        loop = asyncio.get_running_loop()
        try:
            while True:
                while queue and len(running) < self.workers:
                    task_id = queue.pop()
                    fut = loop.create_task(self._run_task(task_id))
                    fut.add_done_callback(finished.put)
                    running[fut] = task_id
                if not running:
                    return result
                batch = await finished.take_all()
                batch.sort(key=lambda f: self._position[running[f]])
                for fut in batch:
                    task_id = running.pop(fut)
                    if fut.result():
                        settled.add(task_id)
                        result.merged.append(task_id)
                        for child in queue.done(task_id):
                            self._on_ready(child)
                        continue
                    result.failed.append(task_id)
                    settled.add(task_id)
                    blocked = sorted(
                        (t for t in self.dag.downstream(task_id) if t not in settled),
                        key=self._position.__getitem__,
                    )
                    queue.drop(blocked)
                    for child in blocked:
                        settled.add(child)
                        result.blocked.append(child)
                        self._on_blocked(child, task_id)
        finally:
            for fut in running:
                fut.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)


class _Finished:
    """The attempts that finished since the scheduler last looked, in the order they did.

    A deque and at most one waiting reader rather than an ``asyncio.Queue``, as the bus's
    subscriptions (:class:`~engine.bus.Subscription`): one put and one take per task, and the
    queue's bookkeeping (its getters, its unfinished count, ``get`` then ``get_nowait`` per
    item) cost more than the rest of the scheduler's work per task.
    """

    def __init__(self) -> None:
        self._done: deque[asyncio.Task[bool]] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, fut: asyncio.Task[bool]) -> None:
        self._done.append(fut)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def take_all(self) -> list[asyncio.Task[bool]]:
        """Wait until at least one attempt finished, then take every one that has."""
        while not self._done:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        batch = list(self._done)
        self._done.clear()
        return batch
