"""The collector is kept off what lives for the whole build, and given it back afterwards."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_pipeline import FakeEngineer, FakePlanner, blueprint, run_factory, writes

from engine.blueprint import Task
from engine.events import Outcome
from engine.heap import long_lived, release, settle
from engine.protocols import EmitFn, EngineerJob, EngineerReport


class Node:
    """A container the collector tracks; two of them pointing at each other make a cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[Node, Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, b


def seen_by_collector(obj: object) -> bool:
    """True when a collection walks ``obj`` (frozen objects are in no generation)."""
    return any(o is obj for o in gc.get_objects())


@pytest.fixture(autouse=True)
def nothing_frozen() -> Iterator[None]:
    release()
    yield
    release()


def test_long_lived_freezes_what_is_alive_and_gives_it_back_at_the_end():
    kept = Node()
    assert seen_by_collector(kept)
    with long_lived():
        assert gc.get_freeze_count() > 0
        assert not seen_by_collector(kept)
        made_inside = Node()
        assert seen_by_collector(made_inside)  # what the block creates is collected as usual
    assert gc.get_freeze_count() == 0
    assert seen_by_collector(kept)


def test_long_lived_collects_the_garbage_of_before_instead_of_keeping_it():
    dropped = weakref.ref(cycle()[0])
    assert dropped() is not None  # a cycle: reference counting alone cannot free it
    with long_lived():
        assert dropped() is None


def test_a_cycle_frozen_then_dropped_is_collected_once_released():
    a, _b = cycle()
    gone = weakref.ref(a)
    del a, _b
    settle()  # the cycle is garbage already, and frozen with the rest
    gc.collect()
    assert gone() is not None  # frozen objects are never walked
    release()
    gc.collect()
    assert gone() is None


@dataclass
class FreezeWatchingEngineer(FakeEngineer):
    """Records, for each job, how many objects the collector was kept off."""

    frozen: list[int] = field(default_factory=list)

    async def work(self, job: EngineerJob, emit: EmitFn) -> EngineerReport:
        self.frozen.append(gc.get_freeze_count())
        return await super().work(job, emit)


async def test_the_build_runs_with_the_plan_frozen_and_releases_it_when_done(
    user_repo: Path, worktree_root: Path
):
    planner = FakePlanner(
        blueprint(
            Task(id="core", title="Add the core", files=["core.txt"]),
            Task(id="cli", title="Add the CLI", depends_on=["core"], files=["cli.txt"]),
        )
    )
    engineer = FreezeWatchingEngineer(
        {"core": writes({"core.txt": "core\n"}), "cli": writes({"cli.txt": "cli\n"})}
    )
    run = await run_factory(user_repo, worktree_root, planner, engineer)

    assert run.state.outcome is Outcome.SHIPPED, run.state.reason
    assert len(engineer.frozen) == 2
    assert all(count > 1000 for count in engineer.frozen)  # the loaded program, the plan...
    assert gc.get_freeze_count() == 0  # ...and all of it back in the collector's view
