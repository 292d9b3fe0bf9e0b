"""A retry keeps the tests its task's previous attempt wrote, and cannot land without them.

Each attempt starts in a fresh worktree off the integration tip; the tests the first attempt
wrote (tests first: their RED run is recorded) used to be gone there, so the retry's engineer
was told of a failure in a file it could not see, and a retry that only fixed the code landed
the task with no test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from repo_helpers import git
from test_full_pipeline import make_factory
from test_pipeline import (
    RUN_ID,
    FakeEngineer,
    FakePlanner,
    Run,
    assert_finished_cleanly,
    blueprint,
    run_factory,
)

from engine.blueprint import Task
from engine.bus import EventBus
from engine.carried_tests import carry_tests, is_test_path, moved_to
from engine.events import EventBase, Outcome
from engine.protocols import EmitFn, EngineerJob, EngineerReport, Finding, GateResult
from engine.state import RunState
from gates.pytest_gate import PytestGate
from gates.sandbox import ProcessSandbox

TEST = "tests/test_value.py"
TASK = Task(id="value", title="Compute the value", files=["value.txt", TEST])


@dataclass
class ExpectationGate:
    """Like pytest on the task's test: the test file says what ``value.txt`` must hold."""

    name: str = "tests"

    async def check(self, workspace: Path) -> GateResult:
        test = workspace / TEST
        if not test.exists():
            return GateResult(gate=self.name, passed=True, summary="no tests ran")
        expected = test.read_text().strip()
        value = workspace / "value.txt"
        got = value.read_text().strip() if value.exists() else "(missing)"
        if got == expected:
            return GateResult(gate=self.name, passed=True, summary="1 passed")
        finding = Finding(message=f"test_value: {got!r} != {expected!r}", file=TEST, line=1)
        return GateResult(gate=self.name, passed=False, summary="1 failed", findings=[finding])


async def run_value_task(
    user_repo: Path, worktree_root: Path, value_task: Callable[[EngineerJob], dict[str, str]]
) -> tuple[Run, FakeEngineer]:
    """A run of the one task, written by ``value_task``, behind the expectation gate."""
    engineer = FakeEngineer({"value": value_task})
    planner = FakePlanner(blueprint(TASK))
    run = await run_factory(
        user_repo, worktree_root, planner, engineer, task_gates=(ExpectationGate(),)
    )
    return run, engineer


def shipped_files(repo: Path, branch: str) -> set[str]:
    return set(git(repo, "ls-tree", "-r", "--name-only", branch).splitlines())


async def test_a_retry_finds_the_failing_test_and_the_task_ships_with_it(
    user_repo: Path, worktree_root: Path
):
    seen: list[bool] = []

    def value_task(job: EngineerJob) -> dict[str, str]:
        seen.append((job.workspace / TEST).exists())
        if job.attempt == 1:  # tests first, then a wrong value
            return {TEST: "good\n", "value.txt": "bad\n"}
        return {"value.txt": "good\n"}  # the retry fixes the code the test quoted

    run, engineer = await run_value_task(user_repo, worktree_root, value_task)

    assert run.state.outcome is Outcome.SHIPPED, run.state.reason
    assert_finished_cleanly(run)
    first, second = engineer.attempts("value")
    assert TEST in second.failure_context
    assert seen == [False, True], "the retry's worktree holds the test its failure quotes"
    assert (first.kept_tests, second.kept_tests) == ((), (TEST,))
    assert TEST in shipped_files(user_repo, run.state.branch)
    assert git(user_repo, "show", f"{run.state.branch}:{TEST}") == "good"


async def test_a_retry_that_deletes_the_tests_it_was_given_does_not_land(
    user_repo: Path, worktree_root: Path
):
    def value_task(job: EngineerJob) -> dict[str, str]:
        if job.attempt == 1:
            return {TEST: "good\n", "value.txt": "bad\n"}
        if job.attempt == 2:  # the failing test "fixed" by deleting it
            (job.workspace / TEST).unlink()
            return {"value.txt": "bad\n"}
        return {"value.txt": "good\n"}

    run, engineer = await run_value_task(user_repo, worktree_root, value_task)

    assert run.state.outcome is Outcome.SHIPPED, run.state.reason
    _, second, third = engineer.attempts("value")
    assert f"deleted tests of this task, which it cannot land without: {TEST}" in (
        third.failure_context
    )
    assert third.kept_tests == (TEST,), "the first attempt's tests, back again"
    assert git(user_repo, "show", f"{run.state.branch}:{TEST}") == "good"
    assert second.kept_tests == (TEST,)


@dataclass
class StoppedInRetry:
    """Writes the test and a wrong value, then is at work on the retry when the run stops."""

    retrying: asyncio.Event = field(default_factory=asyncio.Event)

    async def work(self, job: EngineerJob, emit: EmitFn) -> EngineerReport:
        if job.attempt > 1:
            self.retrying.set()
            await asyncio.sleep(60)
        for rel, text in {TEST: "good\n", "value.txt": "bad\n"}.items():
            (job.workspace / rel).parent.mkdir(parents=True, exist_ok=True)
            (job.workspace / rel).write_text(text)
        return EngineerReport(True, "wrote the test, then the value", (TEST, "value.txt"))


async def test_a_retry_restarted_by_a_resume_keeps_the_tests_too(
    user_repo: Path, worktree_root: Path
):
    bus, first = EventBus(RUN_ID), StoppedInRetry()
    events: list[EventBase] = []
    bus.listen(events.append)
    gates = (ExpectationGate(),)
    planner = FakePlanner(blueprint(TASK))
    stopped = asyncio.create_task(
        make_factory(
            user_repo, worktree_root, bus, planner=planner, engineer=first, task_gates=gates
        ).run()
    )
    await asyncio.wait_for(first.retrying.wait(), 30)
    stopped.cancel()
    await asyncio.gather(stopped, return_exceptions=True)

    seen: list[bool] = []

    def fix_value(job: EngineerJob) -> dict[str, str]:
        seen.append((job.workspace / TEST).exists())
        return {"value.txt": "good\n"}

    engineer = FakeEngineer({"value": fix_value})
    resumed = EventBus(RUN_ID, state=RunState.fold(events))
    final = await asyncio.wait_for(
        make_factory(
            user_repo, worktree_root, resumed, planner=planner, engineer=engineer, task_gates=gates
        ).run(),
        60,
    )

    assert final.outcome is Outcome.SHIPPED, final.reason
    (restarted,) = engineer.attempts("value")
    assert (restarted.attempt, restarted.kept_tests, seen) == (2, (TEST,), [True])
    assert TEST in restarted.failure_context
    assert git(user_repo, "show", f"{final.branch}:{TEST}") == "good"


EXTRA = "def test_extra():\n    assert True\n"


async def test_a_retry_may_move_the_test_pytest_says_clashes_with_a_landed_one(
    user_repo: Path, worktree_root: Path
):
    """Two tasks add tests/extra_<task>/test_extra.py, in folders without __init__.py: the
    second is red on pytest's "import file mismatch" once the first landed. Its retry moves
    the test to a name of its own; refused as a deleted test, it never landed."""
    first_test, clashing = "tests/extra_a/test_extra.py", "tests/extra_b/test_extra.py"
    moved = "tests/extra_b/test_extra_b.py"

    def second(job: EngineerJob) -> dict[str, str]:
        if job.attempt == 1:
            return {clashing: EXTRA, "b.txt": "b\n"}
        (job.workspace / clashing).unlink()  # the move pytest asks for
        return {moved: EXTRA, "b.txt": "b\n"}

    engineer = FakeEngineer({"a": lambda _job: {first_test: EXTRA}, "b": second})
    tasks = (Task(id="a", title="A", files=[first_test]),)
    tasks += (Task(id="b", title="B", depends_on=["a"], files=["b.txt", clashing]),)
    sandbox = ProcessSandbox(use_bwrap=False)
    gate = PytestGate(sandbox, env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}, timeout_s=60)
    try:
        run = await run_factory(
            user_repo, worktree_root, FakePlanner(blueprint(*tasks)), engineer, task_gates=(gate,)
        )
    finally:
        sandbox.close()

    assert run.state.outcome is Outcome.SHIPPED, run.state.reason
    _, retry = engineer.attempts("b")
    assert "import file mismatch" in retry.failure_context
    assert retry.kept_tests == (clashing,)
    shipped = shipped_files(user_repo, run.state.branch)
    assert {first_test, moved, "b.txt"} <= shipped
    assert clashing not in shipped


def commit_in(worktree: Path, files: dict[str, str], message: str) -> str:
    for rel, text in files.items():
        (worktree / rel).parent.mkdir(parents=True, exist_ok=True)
        (worktree / rel).write_text(text)
    git(worktree, "add", "-A")
    git(worktree, "commit", "-q", "-m", message)
    return git(worktree, "rev-parse", "HEAD")


def test_tests_changed_meanwhile_on_the_integration_branch_are_merged_or_left_out(
    user_repo: Path, tmp_path: Path
):
    lines = [f"line {n}\n" for n in range(1, 8)]
    wt = tmp_path / "attempt"
    git(user_repo, "worktree", "add", "-q", "--detach", str(wt), "HEAD")
    base = commit_in(wt, {"tests/test_a.py": "".join(lines)}, "a merged task's test")
    attempt = commit_in(
        wt,
        {
            "tests/test_a.py": "".join([lines[0], "line 2, the attempt's\n", *lines[2:]]),
            "tests/test_b.py": "mine\n",
            "value.txt": "code, not a test\n",
        },
        "attempt 1",
    )
    # Meanwhile another task landed: test_a.py's last line changed, a test_b.py of its own.
    retry = tmp_path / "retry"
    git(user_repo, "worktree", "add", "-q", "--detach", str(retry), base)
    commit_in(
        retry,
        {"tests/test_a.py": "".join([*lines[:6], "line 7, theirs\n"]), "tests/test_b.py": "x\n"},
        "another task",
    )

    kept, left = carry_tests(retry, attempt)

    assert (kept, left) == (["tests/test_a.py"], ["tests/test_b.py"])
    merged = (retry / "tests" / "test_a.py").read_text().splitlines()
    assert (merged[1], merged[6]) == ("line 2, the attempt's", "line 7, theirs")
    assert (retry / "tests" / "test_b.py").read_text() == "x\n", "theirs, untouched"
    assert not (retry / "value.txt").exists(), "only the tests are carried"


def test_a_test_moved_to_another_test_name_is_kept_and_one_moved_out_of_the_tests_is_not(
    user_repo: Path, tmp_path: Path
):
    wt = tmp_path / "attempt"
    git(user_repo, "worktree", "add", "-q", "--detach", str(wt), "HEAD")
    body = "def test_one():\n    assert 1 + 1 == 2\n\n\ndef test_two():\n    assert 2 * 2 == 4\n"
    source = commit_in(wt, {"tests/a/test_x.py": body, "tests/b/test_x.py": body + "# b\n"}, "1")
    git(wt, "mv", "tests/a/test_x.py", "tests/a/test_x_a.py")
    git(wt, "mv", "tests/b/test_x.py", "notes_b.py")
    retry = commit_in(wt, {}, "the retry")

    paths = ["tests/a/test_x.py", "tests/b/test_x.py"]
    assert moved_to(wt, source, retry, paths) == {"tests/a/test_x.py": "tests/a/test_x_a.py"}


def test_what_counts_as_a_test():
    tests = ["tests/test_a.py", "pkg/test_b.py", "conftest.py", "src/x_test.go", "a.test.ts"]
    tests += ["tests/fixtures/data.json", "web/__tests__/App.jsx", "src/FooTest.java"]
    code = ["pkg/a.py", "src/main.rs", "testing.md", "contest.py", "src/latest.py"]
    assert [p for p in tests + code if is_test_path(p)] == tests
