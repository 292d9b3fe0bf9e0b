"""What the engineer's ``list_files`` answers: the files of the repository in its worktree.

It was an ``rglob`` over the whole worktree on the event loop every agent, the merge queue,
the TUI and the event writer share: 3.2 s for 40,000 files under load, every tool call, with
``node_modules`` and ``.venv`` listed too. In a git worktree, git's index says the files
instead (tracked ones, less those deleted, and the untracked ones git does not ignore: what
the engineer wrote), and outside git a walk that skips the usual heavy folders does; either
runs in a thread (:func:`listed_files`).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
from pathlib import Path

from engine.repo_guard import HOOKLESS, without_secrets
from engine.secret_index import SKIPPED_DIRS

LIST_TIMEOUT_S = 30.0
"""How long git may take to list a worktree before the tool call fails."""

CHUNK_BYTES = 64 * 1024
"""How much of git's answer is taken apart at a time."""

HIDDEN_PARTS = frozenset({".git", "__pycache__"})
"""A path with one of these folders in it is never listed (git internals, bytecode)."""


class ListingFailed(OSError):
    """The worktree's files could not be listed (git took past :data:`LIST_TIMEOUT_S`)."""


def _git_listing(root: Path) -> list[str] | None:
    """The files git sees in the worktree ``root``; None when ``root`` is not one.

    git's answer (1.5 MB for 40,000 files) is read and taken apart a chunk at a time: decoded
    and split whole, it held the GIL, so the event loop, for 25 ms at a time under load."""
    if not (root / ".git").exists():
        return None
    hookless = [part for option in HOOKLESS for part in ("-c", option)]
    listing = ["-z", "-t", "--cached", "--others", "--deleted", "--exclude-standard"]
    try:
        git = subprocess.Popen(
            ["git", *hookless, "ls-files", *listing],
            cwd=root,
            env={**os.environ, **without_secrets()},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return None
    # Kept in git's order (the untracked files sorted, then the index's): sorting two sorted
    # runs is a merge, not the long hold of the GIL a shuffled 40,000 names take to sort.
    present: list[str] = []
    deleted: set[str] = set()
    out = git.stdout
    assert out is not None
    timer = threading.Timer(LIST_TIMEOUT_S, git.kill)
    timer.start()
    try:
        rest = b""
        while chunk := os.read(out.fileno(), CHUNK_BYTES):
            *entries, rest = (rest + chunk).split(b"\0")
            for entry in entries:
                tag, _, path = entry.decode("utf-8", "surrogateescape").partition(" ")
                if not path or path.endswith("/"):  # an untracked repository of its own
                    continue
                if tag == "R":
                    deleted.add(path)
                else:
                    present.append(path)
        returncode = git.wait()
    finally:
        timer.cancel()
        git.kill()
        git.wait()
        out.close()
    if returncode == -signal.SIGKILL:
        raise ListingFailed(f"git took over {LIST_TIMEOUT_S:g}s to list the files")
    if returncode != 0:
        return None  # not a repository git knows (a bare folder with a .git in it)
    return [path for path in dict.fromkeys(present) if path not in deleted]


def _walked(root: Path) -> list[str]:
    """The files under ``root``, not following linked folders, past the skipped ones."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [name for name in dirs if name not in SKIPPED_DIRS]
        rel = Path(folder).relative_to(root)
        found += [
            (rel / name).as_posix() for name in files if os.path.isfile(os.path.join(folder, name))
        ]
    return found


def repository_files(root: Path) -> list[str]:
    """The files of the worktree ``root`` as ``list_files`` answers them: relative POSIX
    paths, sorted, without git's internals and bytecode. In a git worktree, what git lists
    (ignored files and folders left out); elsewhere a walk past :data:`SKIPPED_DIRS`."""
    listed = _git_listing(root)
    if listed is None:
        listed = _walked(root)
    return sorted(p for p in listed if HIDDEN_PARTS.isdisjoint(p.split("/")))


async def listed_files(root: Path) -> list[str]:
    """:func:`repository_files` in a thread, off the event loop every agent shares."""
    return await asyncio.to_thread(repository_files, root)
