"""The secrets around a coding agent's run: what it is shown masked, what its output is
cleaned of.

The secret files git tracks in the worktree (``.env``, ``credentials.json``, a private key)
are shown to a fenced agent as masked, read-only copies (:func:`masked_copies`, bound by
:func:`~agents.providers.cli_fence.fence_argv`) that git in the worktree passes over
(:func:`skip_worktree`). What the agent may still see — the host's secret-looking values,
a withheld key that comes its way — is redacted from its output (:func:`secret_values`),
and so are the values of the secret files it writes, outside git found by a
:class:`SecretFileIndex`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.repo_guard import HOOKLESS
from engine.secret_files import is_secret_file, mask_secret_text
from engine.secret_values import SKIPPED_DIRS, tracked_secret_files
from engine.secrets import MIN_SECRET_LENGTH, REDACTED, secret_env_values


def worktree_secret_files(worktree: Path) -> list[str]:
    """The secret files git tracks in ``worktree`` (none outside a git worktree)."""
    return tracked_secret_files(worktree) if (worktree / ".git").exists() else []


def masked_copies(worktree: Path, files: Sequence[str], scratch: Path) -> list[tuple[Path, Path]]:
    """A masked copy (:func:`~engine.secret_files.mask_secret_text`) in ``scratch`` of each
    of ``files`` of the worktree, with the file it stands for; a binary one (a keystore)
    becomes the mask alone. A symlink is left out: its target is not the worktree's."""
    pairs: list[tuple[Path, Path]] = []
    for index, rel in enumerate(files):
        target = worktree / rel
        if target.is_symlink() or not target.is_file():
            continue
        raw = target.read_bytes()
        if b"\0" in raw[:8192]:
            shown = f"{REDACTED}\n".encode()
        else:
            text = raw.decode("utf-8", "surrogateescape")
            shown = mask_secret_text(text).encode("utf-8", "surrogateescape")
        copy = scratch / f"{index}-{target.name}"
        copy.write_bytes(shown)
        pairs.append((copy, target))
    return pairs


def skip_worktree(worktree: Path, files: Sequence[str], on: bool) -> list[str]:
    """Set (or clear) git's skip-worktree bit of ``files`` in the worktree's index; the files
    it was set on. Set, ``git status``, ``git diff`` and ``git add -A`` run by the agent pass
    over the masked copy: a diff of it against the real file would print the real values,
    and an ``add`` would stage the mask."""
    if not files:
        return []
    flag = "--skip-worktree" if on else "--no-skip-worktree"
    hookless = [part for option in HOOKLESS for part in ("-c", option)]
    try:
        done = subprocess.run(
            ["git", *hookless, "update-index", flag, "--", *files],
            cwd=worktree,
            capture_output=True,
            check=False,
            start_new_session=True,
        )
    except OSError:
        return []
    return list(files) if done.returncode == 0 else []


def secrets_said(files: Sequence[str], *, masked: bool) -> str:
    """The agent log's line about the worktree's secret files (empty when it has none):
    shown masked and read-only, or, without the fence, read as they are."""
    if not files:
        return ""
    shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
    if masked:
        return (
            f"[fence] secret files shown to the agent masked and read-only: {shown}; an edit "
            "to one fails and the file keeps its real values (git status and diff leave them "
            "out; git show HEAD:.env still prints them to the agent; its log is cleaned of them)"
        )
    return (
        f"[fence] secret files reach the agent unmasked: {shown} (masking them needs the "
        "bubblewrap fence)"
    )


def secret_values(env: Mapping[str, str], extra: Iterable[str] = ()) -> list[str]:
    """The secret-looking values of ``env`` (the console's and telemetry's rule,
    :mod:`engine.secrets`) and ``extra``, longest first, each also as it is written inside a
    JSON string (a password's quote or backslash comes escaped in a JSON event line)."""
    values = {v.strip() for v in [*secret_env_values(env), *extra]}
    values = {v for v in values if len(v) >= MIN_SECRET_LENGTH}
    escaped = {json.dumps(v, ensure_ascii=ascii)[1:-1] for v in values for ascii in (True, False)}
    return sorted(values | escaped, key=len, reverse=True)


LOOK_BUDGET_S = 0.005
"""Seconds of one look of a :class:`SecretFileIndex` at its folders' times; the next look
goes on where it stopped."""


@dataclass
class _Folder:
    mtime_ns: int = -1
    names: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)
    secrets: list[str] = field(default_factory=list)


class SecretFileIndex:
    """The secret files of a folder tree outside git, kept up to date at a bounded cost.

    Outside a git worktree, the secret files were listed again by walking the whole tree
    whenever a top-level time moved: 0.6 s for 20,000 files in 400 folders, on the event
    loop, at every look while an agent wrote files, which held its output back. The index
    keeps each folder's modification time and names: a look stats the folders (a file made,
    removed or renamed moves its folder's time, at any depth), lists again only those that
    changed and checks only their new names; a new folder is walked. The stats stop after
    :data:`LOOK_BUDGET_S` and the next look goes on from there.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folders: dict[str, _Folder] = {}
        self._order: list[str] = []
        self._next = 0
        self._files: list[str] | None = None

    def files(self) -> list[str]:
        """The secret files (relative POSIX paths) as the folders looked at so far say."""
        if not self._folders:
            self._scan("")
        else:
            self._look()
        if self._files is None:
            self._files = sorted(f for folder in self._folders.values() for f in folder.secrets)
        return self._files

    def _look(self) -> None:
        deadline = time.monotonic() + LOOK_BUDGET_S
        checked = 0
        while checked < len(self._order) and time.monotonic() < deadline:
            self._next %= len(self._order)
            rel = self._order[self._next]
            self._next += 1
            checked += 1
            folder = self._folders.get(rel)
            if folder is None:
                continue
            try:
                mtime_ns = os.stat(self.root / rel).st_mtime_ns
            except OSError:
                mtime_ns = -1
            if mtime_ns != folder.mtime_ns:
                self._scan(rel)

    def _scan(self, top: str) -> None:
        """List the folder ``top`` again, and walk each new folder in it."""
        pending = [top]
        while pending:
            rel = pending.pop()
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
                continue
            prefix = f"{rel}/" if rel else ""
            plain = names - dirs
            kept = [path for path in folder.secrets if path[len(prefix) :] in plain]
            added = [prefix + name for name in plain - folder.names]
            folder.secrets = kept + [path for path in added if is_secret_file(path)]
            for name in folder.dirs - dirs:  # a folder removed, or renamed
                self._forget(prefix + name)
            folder.names, folder.dirs = names, dirs
            self._files = None
            pending += [
                prefix + name
                for name in dirs
                if name not in SKIPPED_DIRS and prefix + name not in self._folders
            ]

    def _forget(self, rel: str) -> None:
        inside = f"{rel}/"
        for known in [k for k in self._folders if k == rel or k.startswith(inside)]:
            del self._folders[known]
        self._order = [k for k in self._order if k in self._folders]
        self._files = None
