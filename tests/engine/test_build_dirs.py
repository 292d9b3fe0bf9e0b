"""Cargo's target folder per worker slot: one live worktree per slot, the lowest free one,
kept in the run's worktree folder, gone with it at its end and kept for its resume."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from repo_helpers import make_repo
from test_full_pipeline import make_factory
from test_pipeline import RUN_ID

from engine.blueprint import Blueprint, Task
from engine.build_dirs import BuildDirs
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.events import EventBase, Outcome
from engine.pipeline import Factory
from engine.protocols import EmitFn, EngineerJob, EngineerReport, GateResult, PlanRequest
from engine.state import RunState
from engine.workspace import GitWorkspaces


def test_the_engines_asks_about_a_worktree_resolve_no_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine asks for a worktree's target folder and releases it by the path it added
    it under, several times a task: a resolve() on each ask (a walk of system calls) took
    the engine's overhead per task from 100 to 130 µs (bench/scheduler.py)."""
    dirs = BuildDirs(tmp_path / "slots")
    worktree = tmp_path / "t1-a1"
    worktree.mkdir()
    slot = dirs.lease(worktree)
    resolved: list[Path] = []
    real_resolve = Path.resolve

    def counting(self: Path, strict: bool = False) -> Path:
        resolved.append(self)
        return real_resolve(self, strict=strict)

    monkeypatch.setattr(Path, "resolve", counting)
    assert dirs.target_dir(worktree) == slot / "target"
    dirs.release(worktree)
    assert dirs.target_dir(worktree) is None  # nothing held: answered without a look
    dirs.release(tmp_path / "never-added")
    assert resolved == []


def test_each_live_worktree_holds_its_own_slot_and_a_freed_one_is_taken_next(
    tmp_path: Path,
) -> None:
    dirs = BuildDirs(tmp_path / "slots")
    first, second = tmp_path / "t1-a1", tmp_path / "t2-a1"
    for folder in (first, second, tmp_path / "t1-a2"):
        (folder / "crate" / "src").mkdir(parents=True)
    assert dirs.lease(first) == tmp_path / "slots" / "0"
    assert dirs.lease(second) == tmp_path / "slots" / "1"
    assert dirs.lease(first) == tmp_path / "slots" / "0"  # asked again: the same
    # A command in a folder below the worktree's top (a monorepo's crate) finds it too.
    assert dirs.target_dir(first / "crate" / "src") == tmp_path / "slots" / "0" / "target"
    assert dirs.target_dir(tmp_path) is None
    env: dict[str, str] = {}
    assert dirs.lend(first / "crate", env) == tmp_path / "slots" / "0"
    assert env == {"CARGO_TARGET_DIR": str(tmp_path / "slots" / "0" / "target")}
    own = {"CARGO_TARGET_DIR": "/elsewhere"}  # a gate's own setting stays
    assert dirs.lend(first, own) is None and own == {"CARGO_TARGET_DIR": "/elsewhere"}

    dirs.release(first)
    assert dirs.target_dir(first) is None
    assert dirs.lease(tmp_path / "t1-a2") == tmp_path / "slots" / "0"  # the next attempt
    assert (tmp_path / "slots" / "0").is_dir()

    dirs.remove_all()
    assert not (tmp_path / "slots").exists()
    assert dirs.target_dir(second) is None


async def test_worktrees_take_slots_in_the_runs_folder_and_cleanup_removes_them(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", {"Cargo.toml": "[workspace]\n"})
    ws = GitWorkspaces(repo, "run1", tmp_path / "worktrees")
    await ws.start()
    slots = tmp_path / "worktrees" / "run1" / ".cargo-target"
    attempt = await ws.add_worktree("t1-a1", ws.base_commit)
    merge = await ws.prepare_merge("t0", ws.base_commit, "m", name="merge-t0-1")
    assert ws.build_dirs.target_dir(attempt) == slots / "0" / "target"
    assert ws.build_dirs.target_dir(merge.worktree) == slots / "1" / "target"

    await ws.remove_worktree(attempt)
    again = await ws.add_worktree("t1-a2", ws.base_commit)
    assert ws.build_dirs.target_dir(again) == slots / "0" / "target"
    (slots / "0" / "target" / "debug").mkdir(parents=True)  # what cargo built there

    await ws.cleanup()
    assert not (tmp_path / "worktrees" / "run1").exists()
    assert ws.build_dirs.target_dir(again) is None


@dataclass
class RetriedEngineer:
    """Writes ``value.txt``: wrong at the first attempt, right at the next; records each
    attempt's cargo target folder."""

    build_dirs: list[Path | None] = field(default_factory=list)

    async def work(self, job: EngineerJob, emit: EmitFn) -> EngineerReport:
        self.build_dirs.append(job.build_dir)
        good = job.attempt > 1
        (job.workspace / "value.txt").write_text("good\n" if good else "bad\n")
        return EngineerReport(True, "wrote value.txt", ("value.txt",))


@dataclass
class SlotGate:
    """Passes when ``value.txt`` says good; records the slot of each worktree it checks."""

    name: str
    build_dirs: BuildDirs
    seen: list[Path | None] = field(default_factory=list)

    async def check(self, workspace: Path) -> GateResult:
        self.seen.append(self.build_dirs.target_dir(workspace))
        passed = (workspace / "value.txt").read_text() == "good\n"
        return GateResult(gate=self.name, passed=passed, summary="1 passed" if passed else "bad")


@pytest.mark.parametrize("keep", [False, True])
async def test_a_retry_and_the_merge_gates_use_the_slot_the_first_attempt_freed(
    tmp_path: Path, keep: bool
) -> None:
    """With one worker, the retry builds where the first attempt did, and so do the merge
    gates once it is done (kept worktrees, to look at, free their slot all the same)."""
    repo = make_repo(tmp_path / "repo", {"README.md": "# crate\n"})
    ws = GitWorkspaces(repo, "run1", tmp_path / "worktrees")
    engineer = RetriedEngineer()
    task_gate, merge_gate = SlotGate("tests", ws.build_dirs), SlotGate("merge", ws.build_dirs)
    factory = Factory(
        bus=EventBus("run1"),
        workspaces=ws,
        planner=OnePlan(),
        engineer=engineer,
        request="Compute the value",
        config=EngineConfig(workers=1, max_attempts=2, keep_worktrees=keep),
        task_gates=(task_gate,),
        merge_gates=(merge_gate,),
        simulated=True,
    )
    state = await asyncio.wait_for(factory.run(), 60)
    assert state.outcome is Outcome.SHIPPED, state.reason
    slot = tmp_path / "worktrees" / "run1" / ".cargo-target" / "0" / "target"
    assert engineer.build_dirs == [slot, slot]
    assert task_gate.seen == [slot, slot]
    # The attempt's worktree waits for its merge: the candidate takes the next slot.
    assert merge_gate.seen == [slot.parent.parent / "1" / "target"]
    assert (tmp_path / "worktrees" / "run1").exists() is keep


@dataclass
class CargoEngineer:
    """Builds in its attempt's cargo target folder as cargo would, and records what each
    attempt found built there before it; ``hold`` keeps an attempt of that task at work."""

    hold: str = ""
    found: dict[str, set[str]] = field(default_factory=dict)

    async def work(self, job: EngineerJob, emit: EmitFn) -> EngineerReport:
        assert job.build_dir is not None
        deps = job.build_dir / "debug" / "deps"
        self.found[job.task.id] = {p.name for p in deps.glob("*")}
        deps.mkdir(parents=True, exist_ok=True)
        (deps / f"lib{job.task.id}.rlib").write_text("compiled\n")
        if job.task.id == self.hold:
            await asyncio.sleep(30)
        (job.workspace / f"{job.task.id}.txt").write_text(f"{job.task.id}\n")
        return EngineerReport(True, f"wrote {job.task.id}.txt", (f"{job.task.id}.txt",))


async def test_a_resumed_run_builds_on_what_its_stopped_process_compiled(
    tmp_path: Path,
) -> None:
    """The slots are named by the run: its resume leases the same folders, and finds the
    dependencies built before the stop instead of compiling them all again."""
    repo = make_repo(tmp_path / "repo", {"Cargo.toml": "[workspace]\n"})
    root = tmp_path / "worktrees"
    bus, engineer = EventBus(RUN_ID), CargoEngineer(hold="cli")
    events: list[EventBase] = []
    bus.listen(events.append)
    run = asyncio.create_task(make_factory(repo, root, bus, engineer=engineer).run())
    while "cli" not in engineer.found:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    run.cancel()  # stopped, as Ctrl-C or a kill leaves it: resumable
    await asyncio.gather(run, return_exceptions=True)
    slots = root / RUN_ID / ".cargo-target"
    built = {p.name for p in slots.glob("*/target/debug/deps/*")}
    assert built == {"libcore.rlib", "libcli.rlib"}
    assert not [p for p in (root / RUN_ID).iterdir() if p != slots], "worktrees removed"
    assert all(any(slot.iterdir()) for slot in slots.iterdir()), "empty slots removed"

    resumed = CargoEngineer()
    final = await asyncio.wait_for(
        make_factory(
            repo, root, EventBus(RUN_ID, state=RunState.fold(events)), engineer=resumed
        ).run(),
        60,
    )

    assert final.outcome is Outcome.SHIPPED, final.reason
    assert list(resumed.found) == ["cli"]  # core merged before the stop
    assert resumed.found["cli"] == built, "the slot the stopped attempt built in, as it was"
    assert not (root / RUN_ID).exists(), "a finished run's builds go with it"


class OnePlan:
    async def plan(self, request: PlanRequest, emit: EmitFn) -> Blueprint:
        task = Task(id="value", title="Compute the value", files=["value.txt"])
        return Blueprint(spec="A value", acceptance_criteria=["good"], tasks=[task])
