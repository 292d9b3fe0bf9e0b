"""Factory end to end on a real git repository, with fake planner, engineer and gates.

The fakes implement the engine.protocols Protocols; everything else — worktrees, the merge
queue, the scheduler, the event bus and the run state — is the real thing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from repo_helpers import git, snapshot

from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.events import (
    AgentOutput,
    BlueprintProposed,
    EventBase,
    GateFinished,
    Merged,
    Outcome,
    RunFinished,
    Stage,
    TaskState,
    TaskStateChanged,
)
from engine.pipeline import Factory
from engine.protocols import (
    EmitFn,
    Engineer,
    EngineerJob,
    EngineerReport,
    Finding,
    Gate,
    GateResult,
    Planner,
    PlanRequest,
)
from engine.resume import plan_resume
from engine.state import RunState
from engine.workspace import GitWorkspaces

RUN_ID = "run0001abcdef"
REQUEST = "Build a greeting CLI"
WIP = f"shopfloor/wip/{RUN_ID}"

# -- fakes ---------------------------------------------------------------------------------------


@dataclass
class FakePlanner:
    blueprint: Blueprint | None = None
    error: Exception | None = None
    requests: list[PlanRequest] = field(default_factory=list)

    async def plan(self, request: PlanRequest, emit: EmitFn) -> Blueprint:
        self.requests.append(request)
        await asyncio.sleep(0)
        if self.error is not None:
            raise self.error
        assert self.blueprint is not None
        return self.blueprint


Script = Callable[[EngineerJob], dict[str, str]]
"""What an engineer does for one job: the files it writes (path -> content)."""


@dataclass
class FakeEngineer:
    """Writes the files its script says straight into the job's worktree."""

    scripts: dict[str, Script]
    delays: dict[str, float] = field(default_factory=dict)
    jobs: list[EngineerJob] = field(default_factory=list)
    saw: dict[tuple[str, int], set[str]] = field(default_factory=dict)

    async def work(self, job: EngineerJob, emit: EmitFn) -> EngineerReport:
        self.jobs.append(job)
        self.saw[(job.task.id, job.attempt)] = {
            str(p.relative_to(job.workspace)) for p in job.workspace.rglob("*.txt")
        }
        await asyncio.sleep(self.delays.get(job.task.id, 0.001))
        files = self.scripts[job.task.id](job)
        for rel, content in files.items():
            target = job.workspace / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        return EngineerReport(True, f"wrote {', '.join(sorted(files))}", tuple(files))

    def attempts(self, task_id: str) -> list[EngineerJob]:
        return [j for j in self.jobs if j.task.id == task_id]


def writes(files: dict[str, str]) -> Script:
    return lambda _job: files


@dataclass
class ContentGate:
    """Red when ``path`` exists and lacks ``expected`` — like a test checking an output."""

    name: str
    path: str
    expected: str
    checked: list[Path] = field(default_factory=list)

    async def check(self, workspace: Path) -> GateResult:
        self.checked.append(workspace)
        target = workspace / self.path
        if not target.exists():
            return GateResult(gate=self.name, passed=True, summary=f"{self.path} absent")
        text = target.read_text()
        if self.expected in text:
            return GateResult(gate=self.name, passed=True, summary="1 passed")
        return GateResult(
            gate=self.name,
            passed=False,
            summary="1 failed",
            findings=[
                Finding(
                    message=f"{self.path} says {text.strip()!r}, expected {self.expected!r}",
                    file=self.path,
                    line=1,
                )
            ],
        )


@dataclass
class ClashGate:
    """Red when both files exist: each task passes alone, the two merged do not."""

    name: str
    first: str
    second: str

    async def check(self, workspace: Path) -> GateResult:
        clash = (workspace / self.first).exists() and (workspace / self.second).exists()
        if clash:
            return GateResult(
                gate=self.name, passed=False, summary=f"{self.first} and {self.second} clash"
            )
        return GateResult(gate=self.name, passed=True, summary="no clash")


def blueprint(*tasks: Task) -> Blueprint:
    return Blueprint(spec="A greeting CLI", acceptance_criteria=["says hello"], tasks=list(tasks))


# -- running a factory -----------------------------------------------------------------------------


@dataclass
class Run:
    state: RunState
    events: list[EventBase]
    repo: Path
    worktree_root: Path

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def task_states(self, task_id: str) -> list[tuple[TaskState, int]]:
        return [(e.state, e.attempt) for e in self.of(TaskStateChanged) if e.task_id == task_id]


async def run_factory(
    repo: Path,
    worktree_root: Path,
    planner: Planner,
    engineer: Engineer,
    *,
    config: EngineConfig | None = None,
    task_gates: tuple[Gate, ...] = (),
    merge_gates: tuple[Gate, ...] = (),
    verify_gates: tuple[Gate, ...] = (),
) -> Run:
    for gate in (*task_gates, *merge_gates, *verify_gates):
        assert isinstance(gate, Gate)
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    factory = Factory(
        bus=bus,
        workspaces=GitWorkspaces(repo, RUN_ID, worktree_root),
        planner=planner,
        engineer=engineer,
        request=REQUEST,
        config=config or EngineConfig(workers=2, max_attempts=3),
        task_gates=task_gates,
        merge_gates=merge_gates,
        verify_gates=verify_gates,
        simulated=True,
    )
    state = await asyncio.wait_for(factory.run(), 60)
    return Run(state, events, repo, worktree_root)


def assert_finished_cleanly(run: Run) -> None:
    """One RunFinished, last; gap-free seq; every worktree gone; a one-line reason."""
    assert [e.seq for e in run.events] == list(range(1, len(run.events) + 1))
    finishes = run.of(RunFinished)
    assert len(finishes) == 1 and run.events[-1] is finishes[0]
    assert "\n" not in run.state.reason and "Traceback" not in run.state.reason
    assert run.state.stage is Stage.DONE
    assert not (run.worktree_root / RUN_ID).exists()
    assert git(run.repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert RunState.fold(run.events).to_status() == run.state.to_status()


def branch_subjects(repo: Path, branch: str) -> list[str]:
    return git(repo, "log", "--reverse", "--format=%s", f"main..{branch}").splitlines()


# -- shipping --------------------------------------------------------------------------------------


async def test_a_plan_ships_as_a_branch_with_one_commit_per_task_in_dependency_order(
    user_repo: Path, worktree_root: Path
):
    before = snapshot(user_repo)
    planner = FakePlanner(
        blueprint(
            Task(id="cli", title="Add the command line", depends_on=["core"], files=["cli.txt"]),
            Task(id="docs", title="Document the greeter", files=["docs.txt"]),
            Task(id="core", title="Add the greeting core", files=["core.txt"]),
            Task(id="pkg", title="Package it", depends_on=["cli", "docs"], files=["pkg.txt"]),
        )
    )
    engineer = FakeEngineer(
        {
            "core": writes({"core.txt": "greet = hello\n"}),
            "cli": writes({"cli.txt": "uses core\n"}),
            "docs": writes({"docs.txt": "how to greet\n"}),
            "pkg": writes({"pkg.txt": "v1\n"}),
        },
        delays={"docs": 0.05},
    )
    gate = ContentGate("tests", "core.txt", "hello")
    run = await run_factory(user_repo, worktree_root, planner, engineer, task_gates=(gate,))

    assert run.state.outcome is Outcome.SHIPPED, run.state.reason
    assert_finished_cleanly(run)
    branch = run.state.branch
    assert branch == f"shopfloor/build-a-greeting-cli-{RUN_ID[:8]}"
    subjects = branch_subjects(user_repo, branch)
    titles = {t.id: t.title for t in planner.blueprint.tasks}
    assert sorted(subjects) == sorted(titles.values())
    for task in planner.blueprint.tasks:
        for dep in task.depends_on:
            assert subjects.index(titles[dep]) < subjects.index(titles[task.id])
    assert subjects == [titles[t] for t in run.state.merged]
    assert git(user_repo, "rev-list", "--count", f"main..{branch}") == "4"
    assert git(user_repo, "show", f"{branch}:core.txt") == "greet = hello"
    assert git(user_repo, "log", "-1", "--format=%b", f"{branch}") == (
        "wrote pkg.txt\n\nShopfloor-Task: pkg"  # the trailer lets resume find merged tasks
    )
    assert run.of(RunFinished)[0].commit == git(user_repo, "rev-parse", branch)

    # A task starts from the integration tip with its dependencies already merged.
    assert {"core.txt"} <= engineer.saw[("cli", 1)]
    assert {"core.txt", "cli.txt", "docs.txt"} <= engineer.saw[("pkg", 1)]
    assert planner.requests[0].repo_files == [
        "CHANGELOG.md",
        "README.md",
        "greet/__init__.py",
        "greet/core.py",
    ]

    status = run.state.to_status()
    assert [(t["id"], t["state"], t["attempts"]) for t in status["tasks"]] == [
        ("cli", "merged", 1),
        ("docs", "merged", 1),
        ("core", "merged", 1),
        ("pkg", "merged", 1),
    ]
    assert status["stage"] == "done" and status["simulated"] is True
    assert git(user_repo, "branch", "--list", WIP) == ""  # the integration branch is gone
    assert snapshot(user_repo) == before  # the user's checkout was never touched


async def test_a_key_in_a_gates_output_stays_out_of_the_engineers_retry_prompt(
    user_repo: Path, worktree_root: Path
):
    """A gate quoting a key (a test printing a fixture's token, a value the engineer wrote)
    had it cleaned in the log, but the next attempt's prompt was built from the gate's raw
    words: the key went to the engineer's model."""
    key = "sk-ant-api03-" + "Zp7" * 12

    def value_task(job: EngineerJob) -> dict[str, str]:
        fixed = "expected 'good'" in job.failure_context
        return {"value.txt": "good\n" if fixed else f"token {key}\n"}

    engineer = FakeEngineer({"value": value_task})
    planner = FakePlanner(blueprint(Task(id="value", title="Value", files=["value.txt"])))
    run = await run_factory(
        user_repo,
        worktree_root,
        planner,
        engineer,
        task_gates=(ContentGate("tests", "value.txt", "good"),),
    )
    assert run.state.outcome is Outcome.SHIPPED, run.state.reason
    _, second = engineer.attempts("value")
    assert "value.txt says 'token [REDACTED]', expected 'good'" in second.failure_context
    assert key[:12] not in second.failure_context


async def test_a_repository_straight_from_git_init_ships_and_stays_unborn(
    tmp_path: Path, worktree_root: Path
):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q", "-b", "main")
    planner = FakePlanner(
        blueprint(
            Task(id="core", title="Add the greeting core", files=["core.txt"]),
            Task(id="cli", title="Add the command line", depends_on=["core"], files=["cli.txt"]),
        )
    )
    engineer = FakeEngineer(
        {"core": writes({"core.txt": "greet\n"}), "cli": writes({"cli.txt": "uses core\n"})}
    )
    run = await run_factory(fresh, worktree_root, planner, engineer)

    assert run.state.outcome is Outcome.SHIPPED, run.state.reason
    assert_finished_cleanly(run)
    assert run.state.base_branch == "main" and planner.requests[0].repo_files == []
    branch = run.state.branch
    base = run.state.base_commit
    assert git(fresh, "rev-list", "--max-parents=0", branch) == base, "grown from the empty root"
    assert git(fresh, "log", "--reverse", "--format=%s", f"{base}..{branch}").splitlines() == [
        "Add the greeting core",
        "Add the command line",
    ]
    assert git(fresh, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert git(fresh, "for-each-ref", "refs/heads/main") == "", "the user's branch is unborn"


async def test_a_task_failing_its_first_attempt_retries_with_the_gates_message_then_ships(
    user_repo: Path, worktree_root: Path
):
    def value_task(job: EngineerJob) -> dict[str, str]:
        fixed = "expected 'good'" in job.failure_context
        return {"value.txt": "good\n" if fixed else "bad\n"}

    engineer = FakeEngineer({"value": value_task})
    planner = FakePlanner(
        blueprint(Task(id="value", title="Compute the value", files=["value.txt"]))
    )
    run = await run_factory(
        user_repo,
        worktree_root,
        planner,
        engineer,
        task_gates=(ContentGate("tests", "value.txt", "good"),),
    )

    assert run.state.outcome is Outcome.SHIPPED, run.state.reason
    assert_finished_cleanly(run)
    first, second = engineer.attempts("value")
    assert (first.attempt, first.failure_context) == (1, "")
    assert second.attempt == 2
    assert "Gate 'tests' failed: 1 failed" in second.failure_context
    assert "value.txt:1: value.txt says 'bad', expected 'good'" in second.failure_context
    assert [(e.attempt, e.passed) for e in run.of(GateFinished)] == [(1, False), (2, True)]
    retry = [e for e in run.of(TaskStateChanged) if e.state is TaskState.RUNNING and e.attempt == 2]
    assert retry[0].reason == "retry: Gate 'tests' failed: 1 failed"
    assert retry[0].context == second.failure_context  # the log has it word for word
    assert run.state.tasks["value"].attempts == 2
    # A crash during the second attempt: resume restarts it with the very same context.
    crashed = RunState.fold(run.events[: run.events.index(retry[0]) + 1])
    assert plan_resume(crashed, {}).restarts == {"value": (2, second.failure_context)}
    # The red first attempt left no trace on the shipped branch.
    assert branch_subjects(user_repo, run.state.branch) == ["Compute the value"]
    # Only the patches: a commit's hash may spell "bad" (one run in ~110 did).
    patches = git(user_repo, "log", "-p", "--format=", f"main..{run.state.branch}")
    assert "+good" in patches and "bad" not in patches


async def test_a_task_that_always_fails_fails_the_run_and_blocks_its_downstream(
    user_repo: Path, worktree_root: Path
):
    engineer = FakeEngineer(
        {
            "core": writes({"core.txt": "goodbye\n"}),
            "cli": writes({"cli.txt": "never\n"}),
            "app": writes({"app.txt": "never\n"}),
            "docs": writes({"docs.txt": "fine\n"}),
        }
    )
    planner = FakePlanner(
        blueprint(
            Task(id="core", title="Core", files=["core.txt"]),
            Task(id="cli", title="CLI", depends_on=["core"]),
            Task(id="app", title="App", depends_on=["cli"]),
            Task(id="docs", title="Docs"),
        )
    )
    run = await run_factory(
        user_repo,
        worktree_root,
        planner,
        engineer,
        config=EngineConfig(workers=2, max_attempts=2),
        task_gates=(ContentGate("tests", "core.txt", "hello"),),
    )

    assert run.state.outcome is Outcome.FAILED
    assert run.state.reason == "task(s) failed after all attempts: core; blocked: cli, app"
    assert_finished_cleanly(run)
    status = {t["id"]: (t["state"], t["attempts"]) for t in run.state.to_status()["tasks"]}
    assert status == {
        "core": ("failed", 2),
        "cli": ("blocked", 0),
        "app": ("blocked", 0),
        "docs": ("merged", 1),
    }
    assert run.state.tasks["cli"].reason == "core failed"
    assert run.state.tasks["core"].reason.startswith("out of attempts: Gate 'tests' failed")
    assert len(engineer.attempts("core")) == 2
    assert engineer.attempts("cli") == [] and engineer.attempts("app") == []
    assert run.state.branch is None
    assert git(user_repo, "branch", "--list", "shopfloor/*") == f"{WIP}"  # nothing shipped


async def test_a_cyclic_plan_fails_the_run_with_the_cycle_and_no_traceback(
    user_repo: Path, worktree_root: Path, caplog: pytest.LogCaptureFixture
):
    planner = FakePlanner(
        blueprint(
            Task(id="a", title="A", depends_on=["b"]),
            Task(id="b", title="B", depends_on=["a"]),
        )
    )
    engineer = FakeEngineer({})
    with caplog.at_level(logging.DEBUG):
        run = await run_factory(user_repo, worktree_root, planner, engineer)

    assert run.state.outcome is Outcome.FAILED
    assert run.state.reason == "the plan has a dependency cycle: a -> b -> a"
    assert_finished_cleanly(run)
    assert run.of(BlueprintProposed) == []  # an unbuildable plan is never announced
    assert engineer.jobs == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_planner_that_raises_fails_the_run_with_a_one_line_reason(
    user_repo: Path, worktree_root: Path
):
    planner = FakePlanner(error=RuntimeError("rate limited by the provider"))
    run = await run_factory(user_repo, worktree_root, planner, FakeEngineer({}))
    assert run.state.outcome is Outcome.FAILED
    assert run.state.reason == "planner failed: rate limited by the provider"
    assert_finished_cleanly(run)


async def test_a_red_merge_never_moves_the_integration_branch(user_repo: Path, worktree_root: Path):
    engineer = FakeEngineer({"a": writes({"a.txt": "a\n"}), "b": writes({"b.txt": "b\n"})})
    planner = FakePlanner(blueprint(Task(id="a", title="Add a"), Task(id="b", title="Add b")))
    run = await run_factory(
        user_repo,
        worktree_root,
        planner,
        engineer,
        config=EngineConfig(workers=1, max_attempts=2),
        merge_gates=(ClashGate("suite", "a.txt", "b.txt"),),
    )

    assert run.state.outcome is Outcome.FAILED
    assert run.state.reason == "task(s) failed after all attempts: b"
    assert_finished_cleanly(run)
    assert [e.task_id for e in run.of(Merged)] == ["a"]
    merge_checks = [
        (e.task_id, e.attempt, e.passed) for e in run.of(GateFinished) if e.scope == "merge"
    ]
    assert merge_checks == [("a", 1, True), ("b", 1, False), ("b", 2, False)]
    retry = engineer.attempts("b")[1]
    assert "fails merged onto the integration branch" in retry.failure_context
    assert "a.txt and b.txt clash" in retry.failure_context
    # Every value the integration branch ever held is green: b.txt never landed.
    held = git(user_repo, "reflog", "show", "--format=%H", f"refs/heads/{WIP}").splitlines()
    assert len(held) == 2  # created at the base, moved once for a
    for commit in held:
        assert "b.txt" not in git(user_repo, "ls-tree", "-r", "--name-only", commit).splitlines()
    assert git(user_repo, "rev-parse", WIP) == run.state.tasks["a"].merged_commit


async def test_a_red_verify_gate_fails_the_run_and_ships_nothing(
    user_repo: Path, worktree_root: Path
):
    engineer = FakeEngineer({"a": writes({"a.txt": "draft\n"})})
    planner = FakePlanner(blueprint(Task(id="a", title="Add a")))
    run = await run_factory(
        user_repo,
        worktree_root,
        planner,
        engineer,
        verify_gates=(ContentGate("acceptance", "a.txt", "final"),),
    )
    assert run.state.outcome is Outcome.FAILED
    assert run.state.reason == "verification failed: acceptance: 1 failed"
    assert_finished_cleanly(run)
    assert run.state.merged == ["a"]
    assert git(user_repo, "branch", "--list", "shopfloor/*") == WIP


async def test_a_crash_inside_the_engineer_fails_the_run_as_an_internal_error(
    user_repo: Path, worktree_root: Path, caplog: pytest.LogCaptureFixture
):
    before = snapshot(user_repo)

    def crash(job: EngineerJob) -> dict[str, str]:
        raise RuntimeError("boom")

    engineer = FakeEngineer(
        {"crash": crash, "slow": writes({"slow.txt": "never\n"})},
        delays={"slow": 30, "crash": 0.02},
    )
    planner = FakePlanner(blueprint(Task(id="slow", title="Slow"), Task(id="crash", title="Crash")))
    with caplog.at_level(logging.ERROR):
        run = await run_factory(user_repo, worktree_root, planner, engineer)

    assert run.state.outcome is Outcome.FAILED
    assert run.state.reason == "internal error: RuntimeError: boom"
    assert_finished_cleanly(run)
    assert engineer.attempts("slow") and engineer.attempts("crash")
    assert run.state.merged == [] and run.of(Merged) == []
    # No task still shows as under way in the status of a finished run.
    assert {t["id"]: t["state"] for t in run.state.to_status()["tasks"]} == {
        "slow": "failed",
        "crash": "failed",
    }
    assert run.state.tasks["slow"].reason == "interrupted: internal error: RuntimeError: boom"
    # The integration branch never moved; the user's checkout is untouched.
    assert git(user_repo, "rev-parse", WIP) == git(user_repo, "rev-parse", "main")
    assert snapshot(user_repo) == before
    # Nothing still running reports after the run finished.
    count = len(run.events)
    await asyncio.sleep(0.05)
    assert len(run.events) == count
    # One line where the user reads it; the traceback kept in the run's log, for the report.
    (said,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert said.exc_info is None and "RuntimeError: boom" in said.getMessage()
    (trace,) = [e.text for e in run.of(AgentOutput) if e.agent_id == "engine"]
    assert trace.startswith("Traceback") and "RuntimeError: boom" in trace


async def test_an_internal_errors_traceback_keeps_no_secret_of_the_environment(
    user_repo: Path, worktree_root: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-not-a-real-key-0123456789")

    def crash(job: EngineerJob) -> dict[str, str]:
        raise RuntimeError("auth failed for sk-ant-not-a-real-key-0123456789")

    planner = FakePlanner(blueprint(Task(id="value", title="Value")))
    run = await run_factory(user_repo, worktree_root, planner, FakeEngineer({"value": crash}))
    (trace,) = [e.text for e in run.of(AgentOutput) if e.agent_id == "engine"]
    assert "sk-ant-not-a-real-key" not in trace and "[REDACTED]" in trace
    assert run.state.reason == "internal error: RuntimeError: auth failed for [REDACTED]"


async def test_an_internal_error_with_a_multi_line_message_still_gives_a_one_line_reason(
    user_repo: Path, worktree_root: Path, caplog: pytest.LogCaptureFixture
):
    def crash(job: EngineerJob) -> dict[str, str]:
        raise OSError("disk full\n  while writing value.txt\n  errno 28")

    planner = FakePlanner(blueprint(Task(id="value", title="Value")))
    with caplog.at_level(logging.CRITICAL):
        run = await run_factory(user_repo, worktree_root, planner, FakeEngineer({"value": crash}))
    assert run.state.reason == "internal error: OSError: disk full"
    assert_finished_cleanly(run)


async def test_a_failed_run_records_what_it_learned(user_repo: Path, worktree_root: Path):
    """A run that failed recorded no learnings: the learn stage came only after shipping, so
    the trap that failed it (a task failing every attempt) was lost to later runs, which
    are the ones that need it; and a failed task, unlike one a retry fixed, taught nothing."""
    engineer = FakeEngineer(
        {"core": writes({"core.txt": "goodbye\n"}), "docs": writes({"docs.txt": "fine\n"})}
    )
    planner = FakePlanner(
        blueprint(Task(id="core", title="Core", files=["core.txt"]), Task(id="docs", title="Docs"))
    )
    run = await run_factory(
        user_repo,
        worktree_root,
        planner,
        engineer,
        config=EngineConfig(workers=2, max_attempts=2),
        task_gates=(ContentGate("tests", "core.txt", "hello"),),
    )
    assert run.state.outcome is Outcome.FAILED
    learned = {lr.source: lr.text for lr in run.state.learnings}
    assert list(learned) == ["failed:core"]
    assert learned["failed:core"].startswith(
        "task core failed after 2 attempt(s); last failure: tests: "
    )
