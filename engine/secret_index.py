"""Where a worktree holds secret files while an agent works in it, found at a bounded
cost, so what is printed after the agent writes one is cleaned of its values (a ``cli:``
agent's log, the engineer's tool output, a sandboxed command's).

The files were listed again whenever a top-level time of the worktree moved: by walking the
whole tree outside git, by three ``git ls-files`` inside, each name checked again. For 20,000
files that took 0.6 s (0.57 s with git), on the event loop, at every look (every 0.5 s) while
the agent wrote files, and the agent's output waited behind it. :class:`SecretFileIndex`
keeps each folder's modification time and names instead: a look stats the folders (a file
made, removed or renamed moves its folder's time, at any depth, so a ``.env`` written deep in
a folder that existed is found too), lists again only those that changed, checks only their
new names, and stops after :data:`LOOK_BUDGET_S` (as many again to walk new folders); the
next look goes on where it stopped.
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from engine.repo_guard import HOOKLESS, without_secrets
from engine.secret_files import is_secret_file

SKIPPED_DIRS = frozenset(
    {".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache", ".nox"}
)
"""Folders never walked for secret files."""

LOOK_BUDGET_S = 0.005
"""Seconds of one look of a :class:`SecretFileIndex` at the folders it knows (statting them,
listing again those that changed), and as many at the new ones; the next look goes on where
it stopped."""


@dataclass
class _Folder:
    mtime_ns: int = -1
    names: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)
    secrets: list[str] = field(default_factory=list)


class SecretFileIndex:
    """The secret files of the folder tree at ``root`` (relative POSIX paths), kept up to
    date by :meth:`files`. ``skipped``: folders (relative) not walked, besides the usual
    :data:`SKIPPED_DIRS` (the folders git ignores: what git lists of a
    worktree leaves their files out too)."""

    def __init__(self, root: Path, skipped: Iterable[str] = ()) -> None:
        self.root = root
        self._skipped = frozenset(skipped)
        self._folders: dict[str, _Folder] = {}
        self._order: list[str] = []
        self._next = 0
        self._pending: dict[str, None] = {}
        self._files: list[str] | None = None

    def files(self, budget_s: float = LOOK_BUDGET_S) -> list[str]:
        """The secret files as the folders looked at so far say: the whole tree at the first
        call (give it a thread), at most ``budget_s`` of looking after (on the event loop;
        ``math.inf`` in a thread: every folder looked at, whatever the machine's load)."""
        if not self._folders:
            self._pending[""] = None
            self._scan_pending(math.inf)
        else:  # the folders known, then the new ones: a big new tree (a build's output)
            self._look(time.monotonic() + budget_s)  # must not hold back the rest
            self._scan_pending(time.monotonic() + budget_s)
        if self._files is None:
            self._files = sorted(f for folder in self._folders.values() for f in folder.secrets)
        return self._files

    def _look(self, deadline: float) -> None:
        """Stat the folders known, from where the last look stopped, until ``deadline``;
        list again those that changed."""
        order = list(self._order)  # a folder removed meanwhile drops out of self._order
        start = self._next % len(order) if order else 0
        for step in range(len(order)):
            if time.monotonic() >= deadline:
                break
            rel = order[(start + step) % len(order)]
            self._next = start + step + 1
            folder = self._folders.get(rel)
            if folder is None:
                continue
            try:
                mtime_ns = os.stat(self.root / rel).st_mtime_ns
            except OSError:
                mtime_ns = -1
            if mtime_ns != folder.mtime_ns:
                self._scan(rel)

    def _scan_pending(self, deadline: float) -> None:
        """Walk the new folders found so far, until ``deadline``."""
        while self._pending and time.monotonic() < deadline:
            rel = next(iter(self._pending))
            del self._pending[rel]
            self._scan(rel)

    def _scan(self, rel: str) -> None:
        """List the folder ``rel`` (again); a folder new in it is walked next."""
        folder = self._folders.get(rel)
        if folder is None:
            folder = self._folders[rel] = _Folder()
            self._order.append(rel)
        names: set[str] = set()
        dirs: set[str] = set()
        try:
            folder.mtime_ns = os.stat(self.root / rel).st_mtime_ns  # first: a change shows
            with os.scandir(self.root / rel) as entries:
                for entry in entries:
                    names.add(entry.name)
                    if entry.is_dir(follow_symlinks=False):
                        dirs.add(entry.name)
        except OSError:  # gone meanwhile
            self._forget(rel)
            return
        prefix = f"{rel}/" if rel else ""
        plain = names - dirs
        kept = [path for path in folder.secrets if path[len(prefix) :] in plain]
        added = [prefix + name for name in plain - folder.names]
        folder.secrets = kept + [path for path in added if is_secret_file(path)]
        for name in folder.dirs - dirs:  # a folder removed, or renamed
            self._forget(prefix + name)
        folder.names, folder.dirs = names, dirs
        self._files = None
        for name in dirs:
            path = prefix + name
            if name in SKIPPED_DIRS or path in self._skipped or path in self._folders:
                continue
            self._pending[path] = None

    def _forget(self, rel: str) -> None:
        inside = f"{rel}/"
        for known in [k for k in self._folders if k == rel or k.startswith(inside)]:
            del self._folders[known]
        self._order = [k for k in self._order if k in self._folders]
        self._files = None


def ignored_folders(worktree: Path) -> list[str]:
    """The folders git ignores in ``worktree`` (relative, as git names them), which
    :class:`SecretFileIndex` leaves out as git's own listing does; none outside git."""
    if not (worktree / ".git").exists():
        return []
    hookless = [part for option in HOOKLESS for part in ("-c", option)]
    listing = ["--others", "--ignored", "--exclude-standard", "--directory"]
    try:
        done = subprocess.run(
            ["git", *hookless, "ls-files", "-z", *listing],
            cwd=worktree,
            env={**os.environ, **without_secrets()},
            capture_output=True,
            check=False,
            start_new_session=True,
        )
    except OSError:
        return []
    if done.returncode != 0:
        return []
    names = done.stdout.decode("utf-8", "surrogateescape").split("\0")
    return [name.rstrip("/") for name in names if name.endswith("/")]
