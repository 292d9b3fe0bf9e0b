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
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

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
        run_task: Callable[[str], Awaitable[bool]],
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
        finished: asyncio.Queue[asyncio.Task[bool]] = asyncio.Queue()
        running: dict[asyncio.Task[bool], str] = {}
        settled: set[str] = set(result.merged)
        try:
            while True:
                while queue and len(running) < self.workers:
                    task_id = queue.pop()
                    fut = asyncio.ensure_future(self._run_task(task_id))
                    fut.add_done_callback(finished.put_nowait)
                    running[fut] = task_id
                if not running:
                    return result
                fut = await finished.get()
                batch = [fut]
                while not finished.empty():
                    batch.append(finished.get_nowait())
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
