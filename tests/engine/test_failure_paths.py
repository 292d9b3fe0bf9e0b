"""A retry reads the failed attempt's gate output with paths it can open: a path into the old
worktree (pytest names modules absolutely on an import error; the gate cache replays results a
gate wrote in another worktree) is said from the worktree's top."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from test_pipeline import FakeEngineer, FakePlanner, blueprint, run_factory

from engine.blueprint import Task
from engine.events import Outcome
from engine.gate_runner import failure_context
from engine.protocols import EngineerJob, GateResult


@dataclass
class ImportErrorGate:
    """Red, in pytest's words, while ``value.txt`` says ``bad``: naming the file absolutely."""

    name: str = "tests"

    async def check(self, workspace: Path) -> GateResult:
        if (workspace / "value.txt").read_text().strip() == "good":
            return GateResult(gate=self.name, passed=True, summary="1 passed")
        return GateResult(
            gate=self.name,
            passed=False,
            summary="1 error",
            output_tail=f"ImportError while importing test module '{workspace}/value.txt'.",
        )


async def test_the_retry_is_told_the_failing_file_from_its_own_worktree(
    user_repo: Path, worktree_root: Path
) -> None:
    def value_task(job: EngineerJob) -> dict[str, str]:
        return {"value.txt": "good\n" if "'value.txt'" in job.failure_context else "bad\n"}

    engineer = FakeEngineer({"value": value_task})
    planner = FakePlanner(blueprint(Task(id="value", title="Compute", files=["value.txt"])))
    run = await run_factory(
        user_repo, worktree_root, planner, engineer, task_gates=(ImportErrorGate(),)
    )

    assert run.state.outcome is Outcome.SHIPPED, run.state.reason
    retry = engineer.attempts("value")[1].failure_context
    assert "ImportError while importing test module 'value.txt'." in retry
    assert str(worktree_root) not in retry


def test_paths_into_any_worktree_of_the_run_lose_the_worktree_and_no_more(tmp_path: Path) -> None:
    root = tmp_path / "worktrees" / "run-1"
    elsewhere = tmp_path / "repo"
    tail = (
        f"import file mismatch: {root}/m01-a1/tests/extra/test_x.py\n"  # this attempt's
        f"is not {root}/m02-a3/tests/extra_m02/test_x.py\n"  # a cached result's
        f"rootdir: {root}/m01-a1\n"  # the worktree's own top: no folder below it
        f"and {elsewhere}/tests/test_x.py"  # outside the run's worktrees: as it is
    )
    failed = GateResult(gate="tests", passed=False, summary="1 error", output_tail=tail)
    passed = GateResult(gate="lint", passed=True, summary="clean", output_tail=f"{root}/a1/x")

    said = failure_context([failed, passed], root)

    assert said == failure_context([failed]).replace(f"{root}/m01-a1/", "").replace(
        f"{root}/m02-a3/", ""
    )
    assert "import file mismatch: tests/extra/test_x.py\nis not tests/extra_m02/test_x.py" in said
    assert f"rootdir: {root}/m01-a1\n" in said and f"{elsewhere}/tests/test_x.py" in said
    assert failure_context([failed]) == "Gate 'tests' failed: 1 error\n" + tail
