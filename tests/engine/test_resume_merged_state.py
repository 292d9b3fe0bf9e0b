"""A process killed between a task's Merged and its MERGED state: the merge queue logs the
Merged, hands the result back, and the build logs the task's state after — two events a
SIGKILL can fall between. The task is in the merged list with a state that says merging."""

from __future__ import annotations

import copy
from pathlib import Path

from test_resume_repository import killed_log, resume

from engine.events import Merged, Outcome, TaskState, TaskStateChanged
from engine.state import RunState
from tui.commands.abandon import LeftInRepository, ending


async def killed_after_cores_merged_event(repo: Path, root: Path) -> RunState:
    events = await killed_log(repo, root)
    cut = next(i for i, e in enumerate(events) if isinstance(e, Merged) and e.task_id == "core")
    state = RunState.fold(events[: cut + 1])
    assert state.merged == ["core"] and state.tasks["core"].state is TaskState.MERGING
    return state


async def test_a_resume_logs_the_merged_state_a_kill_cut_after_the_merged_event(
    user_repo: Path, worktree_root: Path
):
    """Before, the resume took ``core`` as merged (it was in the log's merged list) but never
    moved its state: the shipped run's DAG and ``status`` showed it merging for ever."""
    state = await killed_after_cores_merged_event(user_repo, worktree_root)

    final, later = await resume(user_repo, worktree_root, copy.deepcopy(state))

    assert final.outcome is Outcome.SHIPPED, final.reason
    assert {t.id: t.state for t in final.tasks.values()} == dict.fromkeys(
        final.tasks, TaskState.MERGED
    )
    settled = [e for e in later if isinstance(e, TaskStateChanged) and e.task_id == "core"]
    assert [(e.state, e.reason) for e in settled] == [
        (TaskState.MERGED, "merged before the restart")
    ]
    assert [e.task_id for e in later if isinstance(e, Merged)].count("core") == 0


async def test_abandoning_such_a_run_ends_the_merged_task_merged_not_failed(
    user_repo: Path, worktree_root: Path
):
    """Before, ``shopfloor abandon`` marked ``core`` failed ("interrupted: abandoned") though
    its work is on the integration branch."""
    state = await killed_after_cores_merged_event(user_repo, worktree_root)

    final = copy.deepcopy(state)
    for event in ending(state, "", LeftInRepository()):
        final.apply(event)

    assert final.tasks["core"].state is TaskState.MERGED
    assert final.outcome is Outcome.FAILED
