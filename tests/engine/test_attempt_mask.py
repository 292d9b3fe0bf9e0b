"""An attempt that wrote the secret mask into a file is not committed, and the retry hears why.

A ``cli:`` coding agent reads a tracked ``.env`` masked (``DB_PASSWORD=[REDACTED]``); copied
(``cp .env .env.bak``) or pasted elsewhere, the mask would replace the user's real value in
the attempt's commit. The toolbelt refuses such a write for the built-in engineer; the
attempt's commit refuses it for every engineer, while a file that held the text already
(a redactor's own code) may keep it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from repo_helpers import git, make_repo
from test_pipeline import ContentGate, FakeEngineer, FakePlanner, blueprint, run_factory

from engine.attempt_commit import MaskWritten
from engine.blueprint import Task
from engine.events import Outcome, TaskState, TaskStateChanged
from engine.protocols import EngineerJob
from engine.workspace import GitWorkspaces

ENV = "DB_HOST=localhost\nDB_PASSWORD=hunter2-prod\n"
MASKED = "DB_HOST=localhost\nDB_PASSWORD=[REDACTED]\n"
REDACTOR = 'MASK = "[REDACTED]"\n'


async def started(tmp_path: Path) -> tuple[GitWorkspaces, Path]:
    repo = make_repo(tmp_path / "repo", {".env": ENV, "redact.py": REDACTOR, "app.py": "X = 0\n"})
    ws = GitWorkspaces(repo, "r-mask", tmp_path / "worktrees")
    await ws.start()
    return ws, await ws.add_worktree("t1-a1", ws.integration_tip())


async def test_a_masked_copy_of_a_secret_file_is_not_committed(tmp_path: Path) -> None:
    ws, wt = await started(tmp_path)
    base = git(wt, "rev-parse", "HEAD")
    (wt / ".env.bak").write_text(MASKED)  # what `cp .env .env.bak` gives inside the fence
    (wt / "app.py").write_text("X = 1\n")
    with pytest.raises(MaskWritten) as raised:
        await ws.commit_all(wt, "the attempt")
    reason = str(raised.value)
    assert "\n" not in reason and ".env.bak" in reason and "never copy a masked file" in reason
    assert git(wt, "rev-parse", "HEAD") == base  # nothing committed
    assert git(wt, "diff", "--cached", "--name-only") == ""  # nor left staged


async def test_pasted_mask_in_an_edited_file_is_not_committed(tmp_path: Path) -> None:
    ws, wt = await started(tmp_path)
    (wt / "app.py").write_text('PASSWORD = "[REDACTED]"\n')
    with pytest.raises(MaskWritten, match=r"into app\.py\."):
        await ws.commit_all(wt, "the attempt")


async def test_a_file_that_held_the_mask_text_already_may_keep_or_lose_it(tmp_path: Path) -> None:
    ws, wt = await started(tmp_path)
    (wt / "redact.py").write_text(REDACTOR + "\ndef hide(text):\n    return MASK\n")
    commit = await ws.commit_all(wt, "edit the redactor")
    assert commit is not None
    assert "[REDACTED]" in git(wt, "show", f"{commit}:redact.py")
    wt2 = await ws.add_worktree("t1-a2", commit)
    (wt2 / "redact.py").write_text("MASK = '***'\n")
    assert await ws.commit_all(wt2, "drop the mask text") is not None


async def test_the_retry_is_told_not_to_copy_masked_files_and_the_branch_never_has_the_mask(
    user_repo: Path, worktree_root: Path
) -> None:
    def copies_then_fixes(job: EngineerJob) -> dict[str, str]:
        if job.attempt == 1:
            return {"settings.env.bak": MASKED, "value.txt": "good\n"}
        return {"value.txt": "good\n"}

    engineer = FakeEngineer({"value": copies_then_fixes})
    planner = FakePlanner(blueprint(Task(id="value", title="Set the value", files=["value.txt"])))
    run = await run_factory(
        user_repo,
        worktree_root,
        planner,
        engineer,
        task_gates=(ContentGate("tests", "value.txt", "good"),),
    )

    assert run.state.outcome is Outcome.SHIPPED, run.state.reason
    _first, second = engineer.attempts("value")
    assert second.failure_context.startswith(
        "not committed: the attempt wrote [REDACTED] into settings.env.bak."
    )
    retry = [e for e in run.of(TaskStateChanged) if e.state is TaskState.RUNNING and e.attempt == 2]
    assert retry[0].reason.startswith("retry: not committed: the attempt wrote [REDACTED]")
    patches = git(user_repo, "log", "-p", "--format=", f"main..{run.state.branch}")
    assert "+good" in patches and "[REDACTED]" not in patches and "settings.env.bak" not in patches
