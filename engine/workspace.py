"""Git workspaces for a run: one worktree per attempt and per merge candidate.

Everything happens beside the user's checkout, never in it: attempts and merges run in
detached worktrees under a folder of ours, on top of the run's branches
(:class:`engine.run_branches.RunBranches`). Git runs through GitPython; blocking calls go to
a thread. None of the repository's hooks or fsmonitor commands runs inside the factory's git
calls (:mod:`engine.factory_git`), and what an attempt's agent changed in the shared git
directory is put back (:mod:`engine.repo_put_back`) before its one commit is made
(:mod:`engine.attempt_commit`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import git

from engine import repo_guard, repo_put_back
from engine.attempt_commit import commit_worktree, take_back_git
from engine.build_dirs import BuildDirs
from engine.factory_git import FactoryRepo
from engine.generated_files import copy_generated_files
from engine.merge_candidate import MergeCandidate, apply_task_commit
from engine.repo_guard import MAX_NOTES, PutBack, RepoState
from engine.run_branches import RunBranches
from engine.workspace_errors import WorkspaceError, git_complaint

log = logging.getLogger(__name__)

TRASH = ".removed"
"""The folder, in the run's worktree folder, where removed worktrees' files wait to be
deleted (:meth:`GitWorkspaces.remove_worktree`)."""


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


class GitWorkspaces(RunBranches):
    """The git side of one run: its branches (:class:`RunBranches`) and its worktrees."""

    def __init__(
        self,
        repo_path: Path,
        run_id: str,
        worktree_root: Path,
        *,
        agents_jailed: bool = False,
        build_dirs: BuildDirs | None = None,
    ) -> None:
        """``agents_jailed``: every command an attempt's agent runs is jailed with the
        repository's git directory read-only (bubblewrap, for the built-in engineer's
        toolbelt), so nothing it could change there is put back: whatever changed meanwhile
        in the refs, config and hooks is the user's (a tag, the upstream ``git push -u``
        sets, a ``git remote add``), and was undone as "the agent's".

        ``build_dirs``: the run's cargo target folders, one per live worktree
        (:mod:`engine.build_dirs`); the sandbox is given the same to look them up."""
        super().__init__(repo_path, run_id, worktree_root)
        self.build_dirs = build_dirs or BuildDirs.for_run(worktree_root, run_id)
        self._started: dict[Path, _Attempt] = {}
        """Each worktree's start: its commit, and the repository as it was."""
        self.agents_jailed = agents_jailed
        self._deleting: set[asyncio.Task[None]] = set()
        """The removed worktrees' files being deleted (:meth:`remove_worktree`)."""

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
            await asyncio.to_thread(copy_generated_files, self.path, path)
            self.build_dirs.lease(path)
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
        repo_put_back.put_back_pointers(attempt.pointers, done)  # in the worktree: writable
        if self.agents_jailed:  # the git directory was read-only to the agent
            if worktree.is_dir():
                take_back_git(FactoryRepo(worktree), attempt.base, attempt.state.refs)
            return done
        repo_put_back.put_back_files(self.git_dir, attempt.state, done)
        if worktree.is_dir():
            take_back_git(FactoryRepo(worktree), attempt.base, attempt.state.refs)
        repo_put_back.put_back_refs(self.path, self.git_dir, attempt.state, done)
        self._put_back_integration(done)
        objects = repo_guard.object_names(self.git_dir)
        for other in self._started.values():
            if other is not attempt:
                repo_put_back.forget(other.state, done)
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

    def _set_aside(self, path: Path) -> Path | None:
        """Take the worktree at ``path`` from git (a rename into :data:`TRASH`, then its
        entry forgotten) and return where its files now wait to be deleted; None when it
        was removed outright (the rename failed).

        Deleting a worktree's files is the slow part of removing it (20 s for 7,800 files on
        a busy disk), and it held the lock every worktree and merge of the run waits on."""
        trash = self.root / TRASH / f"{path.name}-{uuid.uuid4().hex[:8]}"
        try:
            trash.parent.mkdir(parents=True, exist_ok=True)
            path.rename(trash)
        except OSError:
            self._remove_worktree_sync(path)
            return None
        self._prune_ours()
        return trash

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
            trash = await asyncio.to_thread(self._set_aside, path)
            self.build_dirs.release(path)
        if trash is not None:  # outside the lock: the next worktree need not wait for it
            deleting = asyncio.create_task(asyncio.to_thread(shutil.rmtree, trash, True))
            self._deleting.add(deleting)
            deleting.add_done_callback(self._deleting.discard)

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

    async def cleanup(self, *, keep_builds: bool = False) -> None:
        """Remove every worktree of this run (none once :meth:`relinquish` was called).

        ``keep_builds``: the run stays resumable, and the cargo target folders it built in
        stay for its resume (:meth:`BuildDirs.remove_all`)."""
        await asyncio.gather(*self._deleting)
        async with self._admin:
            if self._relinquished:
                return
            await asyncio.to_thread(self.build_dirs.remove_all, keep_builds=keep_builds)
            kept = self.build_dirs.root if keep_builds else None
            if self.root.exists():
                for child in sorted(self.root.iterdir()):
                    if child.name == TRASH:  # removed worktrees' files: no worktree of git's
                        await asyncio.to_thread(shutil.rmtree, child, True)
                    elif child != kept:
                        await asyncio.to_thread(self._remove_worktree_sync, child)
                if kept is None:
                    shutil.rmtree(self.root, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        self.root.rmdir()  # when no build was kept in it
            await asyncio.to_thread(self._prune_ours)
