"""A merge candidate: a task's commits squashed onto the integration tip in a worktree.

The merge queue runs the merge gates on the candidate's tree before the integration branch
moves to it; a cherry-pick that conflicts is a candidate without a commit, which says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import git

from engine.factory_git import IDENTITY, FactoryRepo


@dataclass(frozen=True)
class MergeCandidate:
    """A task's commit applied on top of the integration tip, not yet landed."""

    task_id: str
    worktree: Path
    commit: str | None  # None on conflict
    base: str  # the integration tip it was built on
    conflict: str = ""


def apply_task_commit(
    path: Path, task_id: str, task_commit: str, base: str, message: str
) -> MergeCandidate:
    """In the worktree ``path`` (detached at ``base``), ``task_commit``'s changes since it
    forked from ``base`` as one commit with ``message``; on conflict, a candidate without one."""
    wt = FactoryRepo(path)
    # Every commit the attempt made since it forked from the integration branch, not
    # just its last one (an agent may commit on its own).
    start = wt.git.merge_base(base, task_commit)
    try:
        wt.git.cherry_pick("--no-commit", f"{start}..{task_commit}", env=IDENTITY)
    except git.GitCommandError as exc:
        status = wt.git.status("--porcelain")  # never in colour
        try:
            wt.git.cherry_pick("--abort")
        except git.GitCommandError:
            wt.git.reset("--hard", "-q", base)
        detail = f"cherry-pick onto {base[:10]} conflicted:\n{status}\n{exc.stderr}"
        return MergeCandidate(task_id, path, None, base, conflict=detail.strip())
    wt.git.commit("-q", "--no-verify", "--allow-empty", "-m", message, env=IDENTITY)
    commit = str(wt.git.rev_parse("--verify", "HEAD^{commit}"))
    return MergeCandidate(task_id, path, commit, base)
