"""Resuming a run after the repository changed under it: what a user does between a killed run
and ``shopfloor resume``.

The run is killed (cancelled without a RunFinished) after ``core`` merged and while ``cli`` is
under way; then the test does what a user might — delete or reset the integration branch,
``git gc --prune=now``, replace the repository, create the branch the run would ship — and
resumes from the folded log. A resume either carries the run on to a right ``shipped`` or
refuses in one line that says what to do, and a refusal leaves the run resumable.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from repo_helpers import git
from test_full_pipeline import SCRIPTS, make_factory
from test_pipeline import RUN_ID, FakeEngineer

from engine.bus import EventBus
from engine.events import EventBase, Outcome
from engine.state import RunState
from engine.workspace import WorkspaceError

WIP = f"shopfloor/wip/{RUN_ID}"
SHIPPED = f"shopfloor/build-a-greeting-cli-{RUN_ID[:8]}"


async def killed_after_core(repo: Path, root: Path) -> RunState:
    """The folded log of a run killed after ``core`` merged, during ``cli``."""
    return RunState.fold(await killed_log(repo, root))


async def killed_log(repo: Path, root: Path) -> list[EventBase]:
    """The log of a run killed after ``core`` merged, during ``cli``."""
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    engineer = FakeEngineer(dict(SCRIPTS), delays={"cli": 30})
    task = asyncio.create_task(make_factory(repo, root, bus, engineer=engineer).run())
    while "core" not in bus.state.merged or not engineer.attempts("cli"):  # noqa: ASYNC110
        await asyncio.sleep(0.01)  # cli's worktree is made: no git command of it is under way
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return events


async def resume(repo: Path, root: Path, state: RunState) -> tuple[RunState, list[EventBase]]:
    bus = EventBus(RUN_ID, state=state)
    later: list[EventBase] = []
    bus.listen(later.append)
    final = await asyncio.wait_for(make_factory(repo, root, bus).run(), 60)
    return final, later


def subjects(repo: Path, branch: str) -> list[str]:
    return git(repo, "log", "--reverse", "--format=%s", f"main..{branch}").splitlines()


async def test_a_resume_in_another_repository_at_the_same_path_is_refused_in_one_line(
    tmp_path: Path, user_repo: Path, worktree_root: Path
):
    """Before: a GitCommandError traceback and the run recorded as failed (internal error)."""
    state = await killed_after_core(user_repo, worktree_root)
    git(user_repo, "worktree", "prune")
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    (other / "f.txt").write_text("another project\n")
    git(other, "add", "f.txt")
    git(other, "commit", "-q", "-m", "other")
    with pytest.raises(WorkspaceError) as refused:
        await resume(other, worktree_root, state)
    assert str(refused.value) == (
        f"commit {state.base_commit[:10]} where run {RUN_ID} started is not in {other} "
        "(another repository there, or its history rewritten and pruned?): "
        "the run cannot go on there; start a new run"
    )
    assert state.outcome is Outcome.RUNNING
    assert git(other, "branch", "--list", "shopfloor/*") == ""
