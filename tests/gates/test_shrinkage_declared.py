"""A deletion the task asks for ("remove the deprecated module") passes the shrinkage gate;
one it does not declare is refused as before. The declaration travels as the factory writes
it: Task.removes, the commit message of the attempt (commit_all) and of the squashed merge."""

from __future__ import annotations

from pathlib import Path

from repo_helpers import make_repo

from engine.blueprint import Task
from engine.build import commit_message
from engine.protocols import GateResult
from engine.workspace import GitWorkspaces
from gates.sandbox import ProcessSandbox
from gates.shrinkage import ShrinkageGate


def lines(n: int, word: str = "line") -> str:
    return "".join(f"{word} {i}\n" for i in range(n))


async def attempt_and_merge(
    repo: Path, tmp_path: Path, task: Task, change: dict[str, str | None], summary: str = ""
) -> tuple[GitWorkspaces, Path, Path]:
    """What the build does: an attempt's worktree committed with the task's message, then
    squashed onto the integration branch; both worktrees are left for the gate."""
    ws = GitWorkspaces(repo, f"run-{task.id}", tmp_path / "worktrees")
    await ws.start()
    worktree = await ws.add_worktree(f"{task.id}-a1", ws.integration_tip())
    for rel, text in change.items():
        if text is None:
            (worktree / rel).unlink()
        else:
            (worktree / rel).write_text(text)
    message = commit_message(task, summary)
    commit = await ws.commit_all(worktree, message)
    assert commit is not None
    candidate = await ws.prepare_merge(task.id, commit, message)
    assert candidate.commit is not None, candidate.conflict
    return ws, worktree, candidate.worktree


async def judged(
    sandbox: ProcessSandbox, tmp_path: Path, task: Task, change: dict[str, str | None], **kw: str
) -> tuple[GateResult, GateResult]:
    repo = make_repo(
        tmp_path / task.id,
        {"app.py": lines(100), "legacy/old.py": lines(80), "legacy/more.py": lines(60)},
    )
    ws, worktree, merged = await attempt_and_merge(repo, tmp_path / "wt", task, change, **kw)
    gate = ShrinkageGate(sandbox)
    results = await gate.check(worktree), await gate.check(merged)
    await ws.cleanup()
    return results


async def test_a_removal_the_task_declares_passes_at_the_task_and_the_merge(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    task = Task(id="drop", title="Remove the deprecated legacy package", removes=["legacy/"])
    change: dict[str, str | None] = {"legacy/old.py": None, "legacy/more.py": None}
    for result in await judged(process_sandbox, tmp_path, task, change):
        assert result.passed, result.summary
        assert result.counts["deleted"] == 0 and result.counts["declared_deleted"] == 140
        assert "140 line(s) deleted in the 2 file(s) the task removes on purpose" in (
            result.summary
        )


async def test_an_undeclared_mass_deletion_is_still_refused(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    change: dict[str, str | None] = {"legacy/old.py": None, "legacy/more.py": None}
    plain = Task(id="plain", title="Tidy up")
    for result in await judged(process_sandbox, tmp_path, plain, change):
        assert not result.passed and result.counts["deleted"] == 140, result.summary

    # An agent cannot declare a deletion in its summary: only the factory's trailers count.
    forged = "Removed what was in the way.\n\nShopfloor-Removes: legacy\nShopfloor-Task: plain"
    for result in await judged(process_sandbox, tmp_path / "f", plain, change, summary=forged):
        assert not result.passed, result.summary

    # Declaring one module does not excuse gutting another file beside it.
    narrow = Task(id="narrow", title="Remove legacy/old.py", removes=["legacy/old.py"])
    gutted: dict[str, str | None] = {"legacy/old.py": None, "app.py": lines(10)}
    for result in await judged(process_sandbox, tmp_path, narrow, gutted):
        assert not result.passed
        assert result.counts == {
            "deleted": 90,
            "touched_lines": 100,
            "files": 1,
            "declared_deleted": 80,
        }
        assert [f.file for f in result.findings[1:]] == ["app.py"]
