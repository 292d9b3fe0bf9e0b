"""Git workspaces for a run: the integration branch, one worktree per attempt, shipping.

Everything happens beside the user's checkout, never in it: attempts and merges run in
detached worktrees under a folder of ours, and branches move with ``update-ref`` guarded by
their expected old value. The user's checked-out branch, index and working tree are never
read-modify-written, and the integration branch neither moves nor is deleted while a checkout
of the user's has it checked out (:class:`BranchCheckedOut`). Git runs through GitPython;
blocking calls go to a thread. None of the repository's hooks or fsmonitor commands runs
inside the factory's git calls, and what an attempt's agent changed in the shared git
directory is put back (:mod:`engine.repo_guard`).

The integration branch is linear — one squashed commit per merged task, whose message is the
task's title and summary — so the shipped branch reads as one commit per task.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import git

from engine import repo_guard
from engine.attempt_commit import commit_worktree, take_back_git
from engine.factory_git import IDENTITY, FactoryRepo, head_ref, names, resolve
from engine.merge_candidate import MergeCandidate, apply_task_commit
from engine.repo_guard import MAX_NOTES, PutBack, RepoState
from engine.workspace_errors import (
    BranchCheckedOut,
    BranchMoved,
    WorkspaceError,
    git_complaint,
    not_a_repository,
)

log = logging.getLogger(__name__)


@dataclass
class _Attempt:
    """A worktree as it started, for putting back what its agent did in the repository."""

    base: str
    state: RepoState
    """The repository's refs, config, hooks and objects before the agent."""
    pointers: dict[Path, bytes]
    """The worktree's ``.git`` file and its admin folder's ``commondir`` and ``gitdir``: git
    in the worktree follows them to a config, which the agent could make one of its own."""
    settled: bool = False
    """Put back once after the agent (by :meth:`GitWorkspaces.commit_all`)."""


def slugify(text: str, limit: int = 32) -> str:
    """A branch-name-safe slug of ``text``."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (slug[:limit].rstrip("-")) or "run"


class GitWorkspaces:
    """The git side of one run."""

    def __init__(
        self, repo_path: Path, run_id: str, worktree_root: Path, *, agents_jailed: bool = False
    ) -> None:
        """``agents_jailed``: every command an attempt's agent runs is jailed with the
        repository's git directory read-only (bubblewrap, for the built-in engineer's
        toolbelt), so nothing it could change there is put back: whatever changed meanwhile
        in the refs, config and hooks is the user's (a tag, the upstream ``git push -u``
        sets, a ``git remote add``), and was undone as "the agent's"."""
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
        self._started: dict[Path, _Attempt] = {}
        """Each worktree's start: its commit, and the repository as it was."""
        self._tip: str | None = None
        """Where this run last put its integration branch: an agent's move is put back."""
        self._relinquished = False
        self.agents_jailed = agents_jailed
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
        :func:`take_back_git`)."""
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

    # -- worktrees ---------------------------------------------------------------------------

    async def add_worktree(self, name: str, commit: str) -> Path:
        """A fresh detached worktree at ``commit``; an older one of that name is replaced.

        The repository is recorded as it is (:func:`repo_guard.read_state`), so what an agent
        working there changes in it is put back (:meth:`commit_all`, :meth:`remove_worktree`).
        """
        return await self._add_worktree(name, commit, guard=True)

    async def _add_worktree(self, name: str, commit: str, *, guard: bool) -> Path:
        path = self.root / name
        async with self._admin:
            self._still_ours()
            if path.exists():
                await asyncio.to_thread(self._remove_worktree_sync, path)
            else:  # a folder deleted under a registered worktree: git would refuse its name
                await asyncio.to_thread(self._prune_ours)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:  # a filter the checkout needs may be missing (LFS not installed), say
                await asyncio.to_thread(
                    self.repo.git.worktree, "add", "--detach", "--quiet", str(path), commit
                )
            except git.GitCommandError as exc:
                raise WorkspaceError(
                    f"cannot check out {commit[:10]} in a worktree of {self.path}: "
                    f"{git_complaint(exc)}"
                ) from exc
            if guard:
                try:
                    state = await asyncio.to_thread(repo_guard.read_state, self.path, self.git_dir)
                except repo_guard.GitFailed as exc:
                    raise WorkspaceError(str(exc)) from exc
                self._started[path] = _Attempt(commit, state, repo_guard.read_pointers(path))
        return path

    def _put_back(self, worktree: Path, attempt: _Attempt) -> PutBack:
        try:
            return self._put_back_all(worktree, attempt)
        except repo_guard.GitFailed as exc:
            raise WorkspaceError(str(exc)) from exc

    def _put_back_all(self, worktree: Path, attempt: _Attempt) -> PutBack:
        """Put back what the agent in ``worktree`` did to the repository outside its files.

        First what git in the worktree reads before anything else (the worktree's pointers,
        the config, the hooks), then its own branch and HEAD (:func:`take_back_git`), then
        every other ref, this run's integration branch included. Objects that vanished mean
        ``gc``, ``prune`` or ``rm``: ``git fsck`` then checks the repository is whole.
        """
        done = PutBack()
        repo_guard.put_back_pointers(attempt.pointers, done)  # in the worktree: writable
        if self.agents_jailed:  # the git directory was read-only to the agent
            if worktree.is_dir():
                take_back_git(FactoryRepo(worktree), attempt.base, attempt.state.refs)
            return done
        repo_guard.put_back_files(self.git_dir, attempt.state, done)
        if worktree.is_dir():
            take_back_git(FactoryRepo(worktree), attempt.base, attempt.state.refs)
        repo_guard.put_back_refs(self.path, self.git_dir, attempt.state, done)
        self._put_back_integration(done)
        objects = repo_guard.object_names(self.git_dir)
        for other in self._started.values():
            if other is not attempt:
                repo_guard.forget(other.state, done)
                other.state.objects &= objects  # checked here, not again there
        if not attempt.state.objects <= objects:
            started = time.monotonic()
            broken = repo_guard.broken_objects(self.path)
            done.notes.append(
                "objects were deleted from the repository (git gc, git prune?): "
                f"git fsck checked it in {time.monotonic() - started:.1f}s"
            )
            if broken is not None:
                done.lost.append(f"git fsck: {broken}")
        return done

    def _put_back_integration(self, done: PutBack) -> None:
        """Put the integration branch back where the run left it, if an agent moved it. A
        move of the user's (a commit on their checkout of it: its reflog's last line, not
        under the agents' identity) stays: the merge queue asks about those commits when it
        next merges (:class:`BranchMoved`)."""
        now, known = self.branch_tip(self.integration_branch), self._tip
        if known is None or now == known:
            return
        ref = self._ref(self.integration_branch)
        if now is not None and repo_guard.users_moves(self.git_dir, {ref: now}, [ref]):
            return
        moved = repo_guard.git_run(self.path, "update-ref", ref, known, now or "")
        if moved.returncode == 0:
            what = "deleted it" if now is None else f"moved it to {now[:10]}"
            done.notes.append(f"put back {ref} at {known[:10]} (the agent {what})")
        else:
            done.lost.append(f"{ref} at {known[:10]}")

    def _say(self, done: PutBack, note: Callable[[str], object]) -> None:
        for line in done.notes[:MAX_NOTES]:
            note(line)
        if len(done.notes) > MAX_NOTES:
            note(f"... and {len(done.notes) - MAX_NOTES} more put back")

    def _damage(self, done: PutBack) -> WorkspaceError:
        return WorkspaceError(
            "the agent deleted objects the repository needs (git gc --prune, git prune?): "
            f"cannot put back {'; '.join(done.lost)}; see git fsck in {self.path}"
        )

    def _remove_worktree_sync(self, path: Path) -> None:
        try:
            self.repo.git.worktree("remove", "--force", str(path))
        except git.GitCommandError:
            shutil.rmtree(path, ignore_errors=True)
            self._prune_ours()

    def _prune_ours(self) -> None:
        """Forget the factory's worktrees whose folders are gone.

        Not ``git worktree prune``: that forgets every worktree whose folder is missing, the
        user's too — one on a drive not mounted just now, or moved, lost its link to the
        repository and answered "not a git repository" when it came back.
        """
        admin = self.git_dir / "worktrees"
        factory = self.root.parent.resolve()
        try:
            entries = sorted(admin.iterdir())
        except OSError:
            return
        for entry in entries:
            try:
                dot_git = Path((entry / "gitdir").read_text(encoding="utf-8").strip())
            except (OSError, UnicodeDecodeError):
                continue
            checkout = dot_git.parent
            if checkout.resolve().is_relative_to(factory) and not checkout.exists():
                shutil.rmtree(entry, ignore_errors=True)

    async def remove_worktree(self, path: Path) -> None:
        """Remove ``path``; what an agent did in the repository there and nobody put back
        yet (its attempt ended before :meth:`commit_all`) is put back first."""
        async with self._admin:
            if self._relinquished:
                return
            attempt = self._started.pop(path, None)
            if attempt is not None and not attempt.settled:
                try:  # an attempt cut short: its own error is the one to report
                    done = await asyncio.to_thread(self._put_back, path, attempt)
                except WorkspaceError as exc:
                    log.error("%s: %s", path.name, exc)
                else:
                    self._say(done, lambda line: log.warning("%s: %s", path.name, line))
                    if done.lost:
                        log.error("%s", self._damage(done))
            await asyncio.to_thread(self._remove_worktree_sync, path)

    async def commit_all(
        self,
        worktree: Path,
        message: str,
        *,
        note: Callable[[str], object] | None = None,
        keep: Sequence[str] = (),
    ) -> str | None:
        """Commit everything the attempt changed in ``worktree``; None if nothing changed.

        The commit holds the worktree's files as they are, on top of the commit the worktree
        started from, whatever the agent did with git meanwhile (see :func:`take_back_git`).
        What it changed in the repository beyond its worktree (refs, config, hooks) is put
        back first, and ``note`` hears each thing put back. Objects the repository needs
        that the agent deleted raise a WorkspaceError: nothing built on a broken repository
        ships.

        ``keep``: the paths the task names (its blueprint's ``files``), committed even where
        the repository's ignore rules match them — the classic Python ``.gitignore`` ignores
        ``lib/``, and a task's ``src/pkg/lib/util.py`` was left out of its commit while its
        gates, run on the worktree, passed with it there.
        """
        self._still_ours()
        tell = note or (lambda line: log.warning("%s: %s", worktree.name, line))
        started = self._started.get(worktree)
        if started is not None:
            async with self._admin:  # never beside a merge's update-ref or another put-back
                self._still_ours()
                done = await asyncio.to_thread(self._put_back, worktree, started)
                started.settled = True
            self._say(done, tell)
            if done.lost:
                raise self._damage(done)

        return await asyncio.to_thread(commit_worktree, worktree, message, keep, tell)

    def changed_files(self, commit: str) -> list[str]:
        """Paths a commit changed relative to its parent."""
        out = self.repo.git.diff_tree("--no-commit-id", "--name-only", "-r", "-z", commit)
        return names(out)

    def diff(self, commit: str, limit: int = 20000) -> str:
        text = str(self.repo.git.show("--stat", "--patch", "--format=%s", commit))
        return text if len(text) <= limit else text[:limit] + "\n... [diff truncated]"

    # -- merging -----------------------------------------------------------------------------

    async def prepare_merge(
        self,
        task_id: str,
        task_commit: str,
        message: str,
        *,
        base: str | None = None,
        name: str | None = None,
    ) -> MergeCandidate:
        """Apply ``task_commit`` as one squashed commit on top of ``base``.

        ``base`` defaults to the integration tip; the speculative merge queue passes the
        candidate ahead of this one instead. The result lives in a merge worktree (``name``,
        default ``merge-<task>``) so the merge gates can run on the merged tree before the
        branch moves.
        """
        base = base or self.integration_tip()
        path = await self._add_worktree(name or f"merge-{task_id}", base, guard=False)

        return await asyncio.to_thread(apply_task_commit, path, task_id, task_commit, base, message)

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

    async def cleanup(self) -> None:
        """Remove every worktree of this run (none once :meth:`relinquish` was called)."""
        async with self._admin:
            if self._relinquished:
                return
            if self.root.exists():
                for child in sorted(self.root.iterdir()):
                    await asyncio.to_thread(self._remove_worktree_sync, child)
                shutil.rmtree(self.root, ignore_errors=True)
            await asyncio.to_thread(self._prune_ours)

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
