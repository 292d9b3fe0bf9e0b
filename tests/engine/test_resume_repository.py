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
import shutil
from pathlib import Path

import pytest
from repo_helpers import git, snapshot
from test_full_pipeline import SCRIPTS, make_factory
from test_pipeline import RUN_ID, FakeEngineer

from engine.bus import EventBus
from engine.events import EventBase, Outcome, RunFinished, Stage
from engine.state import RunState
from engine.workspace_errors import WorkspaceError

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


@pytest.mark.parametrize("what", ["deleted", "reset to main"])
async def test_a_resume_refuses_when_the_integration_branch_lost_a_merged_task_then_goes_on(
    user_repo: Path, worktree_root: Path, what: str
):
    """Before, the branch was made again at the base commit: ``cli`` was built without the
    ``core`` it depends on, and a run killed later shipped a branch without the merged tasks."""
    state = await killed_after_core(user_repo, worktree_root)
    merged_at = state.tasks["core"].merged_commit
    assert merged_at is not None and git(user_repo, "rev-parse", WIP) == merged_at
    if what == "deleted":
        git(user_repo, "branch", "-D", WIP)
        said = f"integration branch {WIP} is gone"
    else:
        git(user_repo, "branch", "-f", WIP, "main")
        said = f"integration branch {WIP} is at {git(user_repo, 'rev-parse', 'main')[:10]}"
    before = state.last_seq

    with pytest.raises(WorkspaceError) as refused:
        await resume(user_repo, worktree_root, state)
    message = str(refused.value)
    assert "\n" not in message
    assert message == (
        f"{said}, without task(s) core the run merged: put it back with "
        f"`git -C {user_repo} branch -f {WIP} {merged_at}` and resume again"
    )
    assert state.outcome is Outcome.RUNNING and state.last_seq == before  # still resumable
    assert git(user_repo, "branch", "--list", SHIPPED) == ""

    git(user_repo, "branch", "-f", WIP, merged_at)  # what the line says to do
    final, _ = await resume(user_repo, worktree_root, state)
    assert final.outcome is Outcome.SHIPPED, final.reason
    assert final.merged == ["core", "cli"]
    assert subjects(user_repo, SHIPPED) == ["Core", "CLI"]


async def test_a_resume_whose_merged_work_was_pruned_away_says_to_start_a_new_run(
    user_repo: Path, worktree_root: Path
):
    state = await killed_after_core(user_repo, worktree_root)
    git(user_repo, "branch", "-D", WIP)
    shutil.rmtree(worktree_root, ignore_errors=True)  # a reboot cleared /tmp, say
    git(user_repo, "worktree", "prune")
    git(user_repo, "reflog", "expire", "--expire=now", "--all")
    git(user_repo, "gc", "-q", "--prune=now")

    with pytest.raises(WorkspaceError) as refused:
        await resume(user_repo, worktree_root, state)
    assert str(refused.value) == (
        f"integration branch {WIP} is gone, without task(s) core the run merged, and their "
        f"commits are gone from {user_repo} too (git gc?): run {RUN_ID} cannot go on; "
        "start a new run"
    )
    assert state.outcome is Outcome.RUNNING


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


async def test_a_run_that_shipped_and_died_before_its_last_event_resumes_to_that_branch(
    user_repo: Path, worktree_root: Path
):
    """Killed between shipping (branch made, integration branch deleted) and RunFinished."""
    events: list[EventBase] = []
    bus = EventBus(RUN_ID)
    bus.listen(events.append)
    done = await asyncio.wait_for(make_factory(user_repo, worktree_root, bus).run(), 60)
    assert done.outcome is Outcome.SHIPPED and git(user_repo, "branch", "--list", WIP) == ""
    cut = next(i for i, e in enumerate(events) if getattr(e, "stage", None) is Stage.LEARN)
    state = RunState.fold(events[:cut])  # the SHIP stage is logged, nothing after it
    tip = git(user_repo, "rev-parse", SHIPPED)

    final, later = await resume(user_repo, worktree_root, state)
    assert final.outcome is Outcome.SHIPPED, final.reason
    (finished,) = [e for e in later if isinstance(e, RunFinished)]
    assert final.branch == SHIPPED and finished.commit == tip
    assert git(user_repo, "rev-parse", SHIPPED) == tip
    assert git(user_repo, "branch", "--list", "shopfloor/*").split() == [SHIPPED]


async def test_a_branch_the_user_made_with_the_shipped_name_is_left_and_the_run_ships_beside_it(
    user_repo: Path, worktree_root: Path
):
    """Before: 'branch ... already exists; refusing to move it' failed the finished run, for
    good, after every task had merged."""
    log = await killed_log(user_repo, worktree_root)
    state = RunState.fold(log)
    git(user_repo, "branch", SHIPPED, WIP)  # the user tried the work in progress
    mine = git(user_repo, "rev-parse", SHIPPED)

    final, later = await resume(user_repo, worktree_root, state)
    assert final.outcome is Outcome.SHIPPED, final.reason
    assert final.branch == f"{SHIPPED}-2"
    assert subjects(user_repo, f"{SHIPPED}-2") == ["Core", "CLI"]
    assert git(user_repo, "rev-parse", SHIPPED) == mine  # the user's branch was not moved
    said = [getattr(e, "text", "") for e in later]
    assert f"branch {SHIPPED} exists already (not this run's): shipped as {SHIPPED}-2" in said

    # Resumed again after a kill between that ship and RunFinished: the same branch, not -3.
    cut = next(i for i, e in enumerate(later) if getattr(e, "stage", None) is Stage.LEARN)
    again, _ = await resume(user_repo, worktree_root, RunState.fold([*log, *later[:cut]]))
    assert again.branch == f"{SHIPPED}-2"
    assert git(user_repo, "branch", "--list", f"{SHIPPED}-3") == ""


async def test_a_resume_refuses_while_the_user_has_the_integration_branch_checked_out(
    user_repo: Path, worktree_root: Path
):
    """A user looks at the work in progress with ``git checkout shopfloor/wip/RUN``. Before,
    the resume moved that branch under their checkout at each merge (their files went stale
    against HEAD) and deleted it on shipping, leaving their checkout on a branch that no
    longer exists, every file staged as new."""
    state = await killed_after_core(user_repo, worktree_root)
    git(user_repo, "checkout", "-q", WIP)
    looking = snapshot(user_repo)

    with pytest.raises(WorkspaceError) as refused:
        await resume(user_repo, worktree_root, state)
    assert str(refused.value) == (
        f"integration branch {WIP} is checked out in {user_repo}, and the run cannot merge "
        f"while it is: `git -C {user_repo} checkout -` (or `checkout --detach` to keep "
        "looking), then resume again"
    )
    assert snapshot(user_repo) == looking and state.outcome is Outcome.RUNNING

    git(user_repo, "checkout", "-q", "-")  # what the line says
    back = snapshot(user_repo)
    final, _ = await resume(user_repo, worktree_root, state)
    assert final.outcome is Outcome.SHIPPED, final.reason
    assert subjects(user_repo, SHIPPED) == ["Core", "CLI"]
    assert snapshot(user_repo) == back
