"""The engine's own cost per task: 10,000 zero-latency tasks through the real Factory.

Everything that runs per task in a real run runs here — the Factory, the event bus and its
fold, the ready-queue scheduler, the task runner, the merge queue, the storage writer (the
process a real run starts, see :mod:`storage.process_writer`) committing every event to
SQLite — except git and the agents: the planner returns the graph at
once, the engineer returns at once, and the workspaces are an in-memory fake with the same
calls as :class:`engine.workspace.GitWorkspaces` (git would measure git, not the engine).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.blueprint import Blueprint, Task
from engine.build_dirs import BuildDirs
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.heap import settle
from engine.merge_candidate import MergeCandidate
from engine.pipeline import Factory
from engine.protocols import EmitFn, EngineerJob, EngineerReport, PlanRequest
from storage.run_writer import start_writer
from storage.store import SqlEventStore


def _proc_cpu_s(pid: int) -> float:
    """CPU seconds a live process has used so far (Linux: utime and stime of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    """CPU seconds of this process's children that have exited and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class FakeWorkspaces:
    """In-memory stand-in for GitWorkspaces: commits are counters, worktrees are names."""

    def __init__(self, root: Path, run_id: str) -> None:
        self.path = root
        self.run_id = run_id
        self.base_branch = "main"
        self.base_commit = "0" * 40
        self.integration_branch = f"shopfloor/wip/{run_id}"
        self._tip = self.base_commit
        self._ids = itertools.count(1)
        self.branches: dict[str, str] = {}
        self.build_dirs = BuildDirs.for_run(root, run_id)  # no worktree leases a slot here

    def _sha(self) -> str:
        return f"{next(self._ids):040x}"

    async def start(self, base_commit: str | None = None) -> str:
        return self._tip

    def tracked_files(self, limit: int = 2000) -> list[str]:
        return []

    def integration_tip(self) -> str:
        return self._tip

    def branch_tip(self, branch: str) -> str | None:
        return self._tip if branch == self.integration_branch else self.branches.get(branch)

    async def add_worktree(self, name: str, commit: str) -> Path:
        return self.path / name

    async def remove_worktree(self, path: Path) -> None:
        return None

    async def commit_all(
        self,
        worktree: Path,
        message: str,
        *,
        note: Callable[[str], object] | None = None,
        keep: Sequence[str] = (),
    ) -> str | None:
        return self._sha()

    def diff(self, commit: str, limit: int = 20000) -> str:
        return ""

    async def prepare_merge(
        self,
        task_id: str,
        task_commit: str,
        message: str,
        *,
        base: str | None = None,
        name: str | None = None,
    ) -> MergeCandidate:
        base = base or self._tip
        return MergeCandidate(task_id, self.path / (name or task_id), self._sha(), base)

    async def advance(self, new: str, expected_old: str) -> None:
        assert self._tip == expected_old
        self._tip = new

    async def ship(self, branch: str, commit: str) -> str:
        self.branches[branch] = commit
        return branch

    async def delete_integration_branch(self) -> None:
        return None

    async def cleanup(self, *, keep_builds: bool = False) -> None:
        return None


class InstantPlanner:
    def __init__(self, blueprint: Blueprint) -> None:
        self.blueprint = blueprint

    async def plan(self, request: PlanRequest, emit: EmitFn) -> Blueprint:
        return self.blueprint


class InstantEngineer:
    async def work(self, job: EngineerJob, emit: EmitFn) -> EngineerReport:
        return EngineerReport(True, "done")


def wide_blueprint(n: int, seed: int = 3) -> Blueprint:
    """``n`` tasks, each depending on up to two of the 50 tasks before it."""
    rng = random.Random(seed)
    tasks = []
    for i in range(n):
        deps = sorted({f"t{rng.randrange(max(0, i - 50), i)}" for _ in range(2)}) if i else []
        tasks.append(Task(id=f"t{i}", title=f"task {i}", depends_on=deps))
    return Blueprint(spec="overhead benchmark", tasks=tasks)


async def measure_overhead(n: int, folder: Path, workers: int = 8) -> dict[str, Any]:
    """Run ``n`` instant tasks through the Factory with SQLite persistence; µs per task."""
    settle()  # as the CLI does once loaded (engine.heap); the Factory freezes the plan itself
    blueprint = wide_blueprint(n)
    store = await SqlEventStore.open(str(folder / "overhead.db"))
    run_id = "overhead0001"
    bus = EventBus(run_id)
    writer = await start_writer(store, bus.subscribe("storage", durable=True))
    factory = Factory(
        bus=bus,
        workspaces=FakeWorkspaces(folder, run_id),  # type: ignore[arg-type]
        planner=InstantPlanner(blueprint),
        engineer=InstantEngineer(),
        request="overhead benchmark",
        config=EngineConfig(workers=workers, max_attempts=1),
        simulated=True,
    )
    writer_task = asyncio.create_task(writer.run())
    pid = getattr(getattr(writer, "process", None), "pid", None)
    writer_before = _children_cpu_s() + (_proc_cpu_s(pid) if pid is not None else 0.0)
    started, cpu_started = time.perf_counter(), time.process_time()
    state = await factory.run()
    await bus.close()
    await writer_task
    elapsed = time.perf_counter() - started
    run_cpu = time.process_time() - cpu_started
    writer_cpu = _children_cpu_s() - writer_before
    stored = await store.count_events(run_id)
    await store.close()
    if state.outcome.value != "shipped":
        raise RuntimeError(f"overhead run did not ship: {state.reason}")
    return {
        "us_per_task": round(elapsed / n * 1e6, 1),
        "tasks": n,
        "workers": workers,
        "events": stored,
        "seconds": round(elapsed, 3),
        # Which process bounds the run: each one's CPU time per task over the same window
        # (the writer's: its whole life once exited, less what it had used when the window
        # opened). With two cores, the larger is roughly the wall time.
        "run_process_cpu_us_per_task": round(run_cpu / n * 1e6, 1),
        "writer_process_cpu_us_per_task": round(writer_cpu / n * 1e6, 1),
        # The loop the CLI runs on (engine.loop): uvloop's unless SHOPFLOOR_LOOP=asyncio.
        "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        "overhead_workspaces": "in-memory fake with GitWorkspaces' calls (no git); "
        "real Factory, bus, scheduler, merge queue and SQLite storage writer",
    }
