"""Scheduler: ready-queue DAG scheduling with fake, sleep-based tasks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from engine.dag import Dag
from engine.scheduler import Scheduler


def dag(*edges: tuple[str, list[str]]) -> Dag:
    return Dag.build(edges)


@dataclass
class FakeTasks:
    """``run_task`` fakes: each sleeps its duration, then succeeds unless told to fail."""

    durations: dict[str, float] = field(default_factory=dict)
    fail: set[str] = field(default_factory=set)
    crash: set[str] = field(default_factory=set)
    log: list[tuple[str, str]] = field(default_factory=list)  # (event, task) in time order
    running: set[str] = field(default_factory=set)
    peak: int = 0
    cancelled: list[str] = field(default_factory=list)

    async def run(self, task_id: str) -> bool:
        self.log.append(("start", task_id))
        self.running.add(task_id)
        self.peak = max(self.peak, len(self.running))
        try:
            await asyncio.sleep(self.durations.get(task_id, 0.005))
            if task_id in self.crash:
                raise RuntimeError(f"{task_id} blew up")
        except asyncio.CancelledError:
            self.cancelled.append(task_id)
            raise
        finally:
            self.running.discard(task_id)
        self.log.append(("end", task_id))
        return task_id not in self.fail

    def started(self) -> list[str]:
        return [t for event, t in self.log if event == "start"]

    def index(self, event: str, task_id: str) -> int:
        return self.log.index((event, task_id))


async def test_never_more_than_workers_tasks_at_once_and_all_workers_used():
    fake = FakeTasks()
    graph = dag(*((f"t{i}", []) for i in range(8)))
    result = await Scheduler(graph, 3, fake.run).run()
    assert fake.peak == 3
    assert sorted(result.merged) == sorted(graph.order)
    assert result.complete


async def test_a_task_starts_only_after_all_its_dependencies_succeeded():
    graph = dag(
        ("models", []),
        ("store", ["models"]),
        ("api", ["store", "auth"]),
        ("auth", []),
        ("cli", ["api"]),
        ("docs", []),
    )
    fake = FakeTasks(durations={"models": 0.02, "auth": 0.04, "docs": 0.01})
    result = await Scheduler(graph, 4, fake.run).run()
    for task_id, deps in graph.deps.items():
        for dep in deps:
            assert fake.index("end", dep) < fake.index("start", task_id), f"{task_id} before {dep}"
    assert sorted(result.merged) == sorted(graph.order)


async def test_a_task_starts_the_moment_its_dependencies_merged_without_level_barriers():
    # b depends only on a (fast); it must not wait for the slow, unrelated c.
    graph = dag(("a", []), ("c", []), ("b", ["a"]))
    fake = FakeTasks(durations={"a": 0.005, "c": 0.2, "b": 0.005})
    await Scheduler(graph, 2, fake.run).run()
    assert fake.index("end", "b") < fake.index("end", "c")


async def test_the_longest_critical_path_starts_first_when_workers_are_scarce():
    graph = dag(
        ("docs", []),
        ("lint", []),
        ("core", []),
        ("api", ["core"]),
        ("cli", ["api"]),
    )
    fake = FakeTasks()
    await Scheduler(graph, 1, fake.run).run()
    # core (path 3) before docs/lint (path 1) though listed after them; then api (path 2);
    # then the tied ones in blueprint order.
    assert fake.started() == ["core", "api", "docs", "lint", "cli"]


async def test_ready_ties_start_in_blueprint_order():
    graph = dag(("z", []), ("m", []), ("a", []))
    fake = FakeTasks()
    await Scheduler(graph, 1, fake.run).run()
    assert fake.started() == ["z", "m", "a"]


async def test_a_failure_blocks_its_downstream_while_independent_branches_finish():
    graph = dag(
        ("core", []),
        ("api", ["core"]),
        ("cli", ["api"]),
        ("docs", []),
        ("site", ["docs"]),
    )
    fake = FakeTasks(fail={"core"}, durations={"docs": 0.02})
    blocked_calls: list[tuple[str, str]] = []
    ready_calls: list[str] = []
    result = await Scheduler(
        graph,
        2,
        fake.run,
        on_ready=ready_calls.append,
        on_blocked=lambda t, by: blocked_calls.append((t, by)),
    ).run()
    assert result.failed == ["core"]
    assert result.blocked == ["api", "cli"]
    assert result.merged == ["docs", "site"]
    assert not result.complete
    assert blocked_calls == [("api", "core"), ("cli", "core")]
    assert set(fake.started()) == {"core", "docs", "site"}  # blocked tasks never ran
    assert "api" not in ready_calls and "cli" not in ready_calls


async def test_on_ready_announces_each_task_once_when_it_becomes_ready():
    graph = dag(("a", []), ("b", []), ("c", ["a", "b"]))
    fake = FakeTasks(durations={"a": 0.01, "b": 0.03})
    ready_calls: list[str] = []
    await Scheduler(graph, 1, fake.run, on_ready=ready_calls.append).run()
    assert ready_calls == ["a", "b", "c"]


async def test_an_exception_in_a_task_propagates_and_cancels_the_running_ones():
    graph = dag(("boom", []), ("slow1", []), ("slow2", []), ("after", ["boom"]))
    fake = FakeTasks(crash={"boom"}, durations={"boom": 0.01, "slow1": 30, "slow2": 30})
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RuntimeError, match="boom blew up"):
        await Scheduler(graph, 3, fake.run).run()
    assert loop.time() - started < 5
    assert sorted(fake.cancelled) == ["slow1", "slow2"]
    assert fake.running == set()
    assert "after" not in fake.started()


async def test_cancelling_the_scheduler_cancels_its_tasks():
    fake = FakeTasks(durations={"a": 30, "b": 30})
    run = asyncio.create_task(Scheduler(dag(("a", []), ("b", [])), 2, fake.run).run())
    await asyncio.sleep(0.02)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert sorted(fake.cancelled) == ["a", "b"]


async def test_already_merged_tasks_are_skipped_and_release_their_dependents():
    graph = dag(("core", []), ("api", ["core"]), ("docs", []), ("cli", ["api", "docs"]))
    fake = FakeTasks()
    result = await Scheduler(graph, 2, fake.run).run(already_merged=["core", "docs"])
    assert fake.started() == ["api", "cli"]
    assert result.merged == ["core", "docs", "api", "cli"]
    assert result.complete


async def test_already_merged_may_be_any_iterable_even_a_one_shot_generator():
    graph = dag(("a", []), ("b", []), ("c", ["a", "b"]))
    fake = FakeTasks()
    result = await Scheduler(graph, 2, fake.run).run(already_merged=(t for t in ["a", "b"]))
    assert fake.started() == ["c"]
    assert result.merged == ["a", "b", "c"]


async def test_everything_already_merged_runs_nothing():
    fake = FakeTasks()
    result = await Scheduler(dag(("a", []), ("b", ["a"])), 2, fake.run).run(
        already_merged=["a", "b"]
    )
    assert fake.log == []
    assert result.merged == ["a", "b"]
    assert result.complete


async def test_provider_slots_cap_a_limited_family_and_leave_the_others_unbounded():
    from engine.build import ProviderSlots
    from engine.config import EngineConfig

    slots = ProviderSlots(EngineConfig(workers=8, provider_limits={"gemini": 2}))
    inside: dict[str, int] = {}
    peak: dict[str, int] = {}

    async def hold(family: str) -> None:
        async with slots.hold(family):
            inside[family] = inside.get(family, 0) + 1
            peak[family] = max(peak.get(family, 0), inside[family])
            await asyncio.sleep(0.01)
            inside[family] -= 1

    await asyncio.gather(*(hold(f) for f in ["gemini", "anthropic", ""] * 5))
    assert peak == {"gemini": 2, "anthropic": 5, "": 5}
    assert inside == {"gemini": 0, "anthropic": 0, "": 0}
