"""The run's repository and its branches: the user's checkout, the integration branch, shipping.

Branches move with ``update-ref`` guarded by their expected old value, beside the user's
checkout and never in it: the user's checked-out branch, index and working tree are never
read-modify-written, and the integration branch neither moves nor is deleted while a checkout
of the user's has it checked out (:class:`BranchCheckedOut`); one someone else moved stays
where it was moved to (:class:`BranchMoved`). The worktrees of the run's attempts and merges
are :class:`engine.workspace.GitWorkspaces`, a subclass of this one.

The integration branch is linear — one squashed commit per merged task, whose message is the
task's title and summary — so the shipped branch reads as one commit per task.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import git

from engine import repo_guard, repo_put_back
from engine.factory_git import IDENTITY, FactoryRepo, head_ref, names, resolve
from engine.repo_guard import PutBack
from engine.workspace_errors import (
    BranchCheckedOut,
    BranchMoved,
    WorkspaceError,
    git_complaint,
    not_a_repository,
)

log = logging.getLogger(__name__)


class RunBranches:
    """The repository of one run and the branches it keeps there."""

    def __init__(self, repo_path: Path, run_id: str, worktree_root: Path) -> None:
        """The repository at ``repo_path`` for run ``run_id``, whose worktrees go under
        ``worktree_root``; one that cannot be used raises a :class:`WorkspaceError`."""
        try:
            self.repo = FactoryRepo(repo_path)
        except (git.NoSuchPathError, git.InvalidGitRepositoryError) as exc:
            raise WorkspaceError(not_a_repository(repo_path)) from exc
        if self.repo.bare:
            raise WorkspaceError(f"bare repositories are not supported: {repo_path}")
        top = Path(self.repo.working_tree_dir or repo_path).resolve()
        if top != Path(repo_path).resolve():  # its .git folder: git finds the checkout
            raise WorkspaceError(
                f"{repo_path} is the git folder of the repository {top}: "
                f"give the repository itself ({top})"
            )
        try:  # GitPython reads the files itself; git may still refuse (safe.directory)
            self.repo.git.rev_parse("--git-dir")
        except git.GitCommandError as exc:
            raise WorkspaceError(
                f"git refuses the repository {repo_path}: {git_complaint(exc)}"
            ) from exc
        self.unborn = resolve(self.repo, "HEAD") is None
        """The repository has no commits yet (``git init`` and nothing more): the run starts
        from :meth:`base_commit`'s empty root commit, and the user's branch stays unborn."""
        self._empty_base: str | None = None
        self.path = Path(self.repo.working_tree_dir or repo_path).resolve()
        self.run_id = run_id
        self.root = worktree_root / run_id
        self.integration_branch = f"shopfloor/wip/{run_id}"
        self.git_dir = Path(self.repo.common_dir).resolve()
        self._admin = asyncio.Lock()
        self._tip: str | None = None
        """Where this run last put its integration branch: an agent's move is put back."""
        self._relinquished = False
        """Another process drives the run now (:meth:`relinquish`): hands off the repository."""

    def relinquish(self) -> None:
        """Leave the repository to the process that took the run over (its lease was lost).

        That process cleared this run's worktrees and took its integration branch as it
        found them; what this one would do while its attempts are cancelled — put back
        "an agent's" move of that branch, remove the run's worktrees — would undo the new
        driver's work. From here cleaning up does nothing, and changing the repository is
        refused.
        """
        self._relinquished = True

    def _still_ours(self) -> None:
        if self._relinquished:
            raise WorkspaceError(f"another process drives run {self.run_id} now")

    # -- facts about the user's checkout -------------------------------------------------

    @property
    def base_branch(self) -> str:
        """The user's checked-out branch name (or ``HEAD`` when detached); in a repository
        without commits, the branch its first commit will be on."""
        ref = head_ref(self.repo)
        return "HEAD" if ref is None else ref.removeprefix("refs/heads/")

    @property
    def base_commit(self) -> str:
        """The commit the run starts from: the user's HEAD.

        A repository without commits has none, so the run gets a root commit of the empty
        tree, made once and on no branch (``commit-tree`` moves no ref): the shipped branch
        grows from it and the user's checkout is left as it was.
        """
        if not self.unborn:
            head = resolve(self.repo, "HEAD")
            if head is None:
                raise WorkspaceError(f"HEAD of {self.path} names no commit any more")
            return head
        if self._empty_base is None:
            empty_tree = self.repo.git.hash_object("-t", "tree", "-w", "/dev/null")
            self._empty_base = str(
                self.repo.git.commit_tree(
                    empty_tree,
                    "-m",
                    "shopfloor: empty base (the repository had no commits)",
                    env=IDENTITY,
                )
            )
        return self._empty_base

    def tracked_files(self, limit: int = 2000) -> list[str]:
        """Files at the base commit (for the planner's view of the repo)."""
        out = self.repo.git.ls_tree("-r", "--name-only", "-z", self.base_commit)
        return names(out)[:limit]

    # -- integration branch ----------------------------------------------------------------

    def _ref(self, branch: str) -> str:
        return f"refs/heads/{branch}"

    def branch_tip(self, branch: str) -> str | None:
        try:
            return str(self.repo.git.rev_parse("--verify", "--quiet", self._ref(branch)))
        except git.GitCommandError:
            return None

    def has_commit(self, sha: str) -> bool:
        """``sha`` names a commit this repository holds (not pruned, not another repo's)."""
        try:
            self.repo.git.cat_file("-e", f"{sha}^{{commit}}")
        except git.GitCommandError:
            return False
        return True

    def checked_out_at(self, branch: str) -> Path | None:
        """The checkout (the user's, or a worktree of theirs) that has ``branch`` as its HEAD;
        None if none has. The run's own worktrees do not count: they start detached, and a
        branch an agent checks out there is taken back after its attempt (see
        :func:`~engine.attempt_commit.take_back_git`)."""
        listing = str(self.repo.git.worktree("list", "--porcelain"))
        ours = self.root.resolve()
        path: str | None = None
        for line in listing.splitlines():
            if line.startswith("worktree "):
                path = line[len("worktree ") :]
            elif line == f"branch {self._ref(branch)}" and path is not None:
                if not Path(path).resolve().is_relative_to(ours):
                    return Path(path)
        return None

    def task_log(self, base: str, tip: str) -> str:
        """``git log --format=%H%x00%B%x01 base..tip``: the commits the run put on ``base``,
        for :func:`engine.resume.tasks_in_log`."""
        return str(self.repo.git.log("--format=%H%x00%B%x01", f"{base}..{tip}"))

    async def start(self, base_commit: str | None = None) -> str:
        """Create the integration branch at the base commit (or keep it if it exists)."""
        async with self._admin:
            tip = self.branch_tip(self.integration_branch)
            if tip is None:
                tip = base_commit or self.base_commit
                await asyncio.to_thread(
                    self._create_branch, self.integration_branch, tip, "the integration branch"
                )
            self._tip = tip
            return tip

    def _create_branch(self, branch: str, commit: str, what: str) -> None:
        """Create ``branch`` at ``commit`` (never moving one that exists).

        git keeps a branch as a file under ``refs/heads/``, so a branch ``shopfloor`` and a
        branch ``shopfloor/wip/RUN`` cannot both exist: the one in the way is named, with
        the command that moves it aside.
        """
        try:
            self.repo.git.update_ref(self._ref(branch), commit, "")
        except git.GitCommandError as exc:
            parts = branch.split("/")
            for end in range(1, len(parts)):
                prefix = "/".join(parts[:end])
                if self.branch_tip(prefix) is not None:
                    raise WorkspaceError(
                        f"cannot create {what} {branch}: the branch {prefix} is in the way "
                        f"(git cannot have both); rename it with "
                        f"`git branch -m {prefix} NEW-NAME`"
                    ) from exc
            raise WorkspaceError(f"cannot create {what} {branch}: {git_complaint(exc)}") from exc

    def integration_tip(self) -> str:
        """The commit the run's work goes on from: where the run last put its integration
        branch. A commit someone else put on the branch meanwhile (the user's, on a checkout
        of it) is not the run's: attempts and merges are not built on it, nor does it ship,
        unless the merge queue was told to take it in (:meth:`adopt`)."""
        if self._tip is not None:
            return self._tip
        tip = self.branch_tip(self.integration_branch)
        if tip is None:
            raise WorkspaceError(f"integration branch {self.integration_branch} is missing")
        return tip

    async def adopt(self, tip: str) -> None:
        """Take the commits someone else put on the integration branch in: ``tip`` (which
        holds the run's tip, :attr:`BranchMoved.added` on top) becomes the run's tip."""
        async with self._admin:
            self._still_ours()
            self._tip = tip

    async def advance(self, new: str, expected_old: str) -> None:
        """Move the integration branch to ``new`` only if it still points at ``expected_old``,
        and only while no checkout but the run's own has it checked out: then the branch
        stays where it is and :class:`BranchCheckedOut` says where it is checked out. A
        branch that moved meanwhile stays where it was moved to: :class:`BranchMoved`.

        A window stays open, and is left: a ``git checkout`` of the branch that runs while
        it moves is not seen. The check and the move are two git commands; and even git 2.46's
        ``update-ref --stdin`` ``symref-verify``, which could hold every checkout's HEAD
        locked around the move, would not close it, since ``git checkout`` itself reads the
        branch's commit, writes the index and files, and only then takes ``HEAD.lock`` to
        point HEAD at the branch, with no lock between the read and the write that a mover
        could take. A move in that gap (milliseconds, against a checkout typed by a person)
        leaves that checkout's files at the old commit under the new HEAD.
        """
        async with self._admin:
            self._still_ours()
            checkout = await asyncio.to_thread(self.checked_out_at, self.integration_branch)
            if checkout is not None:
                raise BranchCheckedOut(self.integration_branch, checkout)
            try:
                await asyncio.to_thread(
                    self.repo.git.update_ref,
                    "-m",
                    "shopfloor: merge",
                    self._ref(self.integration_branch),
                    new,
                    expected_old,
                )
                self._tip = new
            except git.GitCommandError as exc:
                tip = self.branch_tip(self.integration_branch)
                if tip == expected_old:  # not moved: the ref was locked, say
                    why = " ".join(str(exc.stderr).split()) or "update-ref failed"
                    raise WorkspaceError(
                        f"integration branch {self.integration_branch} did not move to "
                        f"{new[:10]}: {why}"
                    ) from exc
                added = await asyncio.to_thread(self._added, expected_old, tip)
                raise BranchMoved(self.integration_branch, new, expected_old, tip, added) from exc

    def _added(self, base: str, tip: str | None) -> list[str]:
        """``sha subject`` of each commit ``tip`` holds on top of ``base``, oldest first;
        none when ``tip`` does not hold ``base``."""
        if tip is None or tip == base:
            return []
        try:
            self.repo.git.merge_base("--is-ancestor", base, tip)
        except git.GitCommandError:
            return []
        out = self.repo.git.log("--reverse", "--format=%h %s", f"{base}..{tip}")
        return str(out).splitlines()

    def _put_back_integration(self, done: PutBack) -> None:
        """Put the integration branch back where the run left it, if an agent moved it. A
        move of the user's (a commit on their checkout of it: its reflog's last line, not
        under the agents' identity) stays: the merge queue asks about those commits when it
        next merges (:class:`BranchMoved`)."""
        now, known = self.branch_tip(self.integration_branch), self._tip
        if known is None or now == known:
            return
        ref = self._ref(self.integration_branch)
        if now is not None and repo_put_back.users_moves(self.git_dir, {ref: now}, [ref]):
            return
        moved = repo_guard.git_run(self.path, "update-ref", ref, known, now or "")
        if moved.returncode == 0:
            what = "deleted it" if now is None else f"moved it to {now[:10]}"
            done.notes.append(f"put back {ref} at {known[:10]} (the agent {what})")
        else:
            done.lost.append(f"{ref} at {known[:10]}")

    # -- the run's commits -------------------------------------------------------------------

    def changed_files(self, commit: str) -> list[str]:
        """Paths a commit changed relative to its parent."""
        out = self.repo.git.diff_tree("--no-commit-id", "--name-only", "-r", "-z", commit)
        return names(out)

    def diff(self, commit: str, limit: int = 20000) -> str:
        text = str(self.repo.git.show("--stat", "--patch", "--format=%s", commit))
        return text if len(text) <= limit else text[:limit] + "\n... [diff truncated]"

    # -- shipping ----------------------------------------------------------------------------

    async def ship(self, branch: str, commit: str) -> str:
        """Create ``branch`` at ``commit``. Refuses to move an existing branch (no force)."""
        async with self._admin:
            self._still_ours()
            if self.branch_tip(branch) is not None:
                raise WorkspaceError(f"branch {branch} already exists; refusing to move it")
            await asyncio.to_thread(self._create_branch, branch, commit, "the branch")
        return branch

    def commits_since_base(self, commit: str, base: str) -> list[str]:
        """Subjects of the commits from ``base`` (exclusive) to ``commit``, oldest first."""
        out = self.repo.git.log("--reverse", "--format=%s", f"{base}..{commit}")
        return str(out).splitlines()

    async def delete_integration_branch(self) -> Path | None:
        """Delete the integration branch once the run shipped; returns the checkout that
        keeps it, if one does.

        A checkout that has the branch checked out keeps it: deleted under it, that checkout
        would be on a branch that does not exist, every file staged as new. The branch is then
        left where it is (at the shipped commit, so the checkout is consistent), and the
        checkout is returned for the run to say so. A branch someone else moved (the user's
        commits on it, which the run did not ship) is left too, with a warning: deleting it
        would leave those commits on no branch.
        """
        async with self._admin:
            self._still_ours()
            checkout = await asyncio.to_thread(self.checked_out_at, self.integration_branch)
            if checkout is not None:
                return checkout
            tip = self.branch_tip(self.integration_branch)
            if tip is not None and self._tip is not None and tip != self._tip:
                added = await asyncio.to_thread(self._added, self._tip, tip)
                what = (
                    f"{len(added)} commit(s) the run did not ship: {', '.join(added[:3])}"
                    + (", ..." if len(added) > 3 else "")
                    if added
                    else f"{tip[:10]}, where someone else moved it"
                )
                log.warning(
                    "%s stays: it holds %s; `git -C %s branch -D %s` deletes it",
                    self.integration_branch,
                    what,
                    self.path,
                    self.integration_branch,
                )
                return None
            if tip is not None:
                await asyncio.to_thread(
                    self.repo.git.update_ref, "-d", self._ref(self.integration_branch), tip
                )
            self._tip = None
            return None
