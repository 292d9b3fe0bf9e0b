"""Cargo's target folder per worker slot, outside the worktrees, reused from one to the next.

Every attempt and every merge candidate runs in a fresh worktree, and cargo kept its
``target/`` there: each attempt's gates, and each merge's, compiled the crate's dependencies
from scratch. Instead each live worktree of the run holds a slot, the lowest one free, and
whatever runs in it (the gates' commands, the engineer's tools, a ``cli:`` agent) is given
``CARGO_TARGET_DIR`` naming that slot's folder: a slot's next worktree finds what the last one
compiled. A slot is held by one worktree at a time, so two builds running at once never share
a folder (cargo would make one wait for the other's lock: "Blocking waiting for file lock").

Each slot is a folder of the run's private area (``<worktrees>/<run>/.cargo-target/<n>``),
writable inside the sandbox; cargo's own ``target`` is a folder inside it, so an agent's
``cargo clean`` removes its slot's build and nothing else. The folders go with the run's
worktrees when it ends (:meth:`engine.workspace.GitWorkspaces.cleanup`); a run that stops
resumable (Ctrl-C, a crash, a budget's stop) keeps them, and its resume, whose slots are the
same folders (they are named by the run), builds on what they hold.

Cargo reuses only what it judges fresh: a dependency from a fixed place (the registry's cache,
a vendored folder outside the repository, a crate beside it); a crate inside the worktree
(a workspace member, a path dependency, a ``vendor/`` folder) is rebuilt in a new worktree,
its files being newer or elsewhere than the last build's.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

FOLDER = ".cargo-target"
"""The slots' folder in the run's worktree folder; no task id starts with a dot, so no
worktree is ever named so."""
TARGET = "target"
"""Cargo's target folder inside a slot's: ``cargo clean`` removes it, not the slot."""


class BuildDirs:
    """The slots of one run's worktrees, each with its cargo target folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._held: dict[Path, int] = {}
        self._real: dict[Path, Path] = {}
        """A worktree's path as the engine names it -> its resolved path (the key of
        ``_held``): the engine asks about each worktree by the path it added it under, several
        times a task, and a ``resolve()`` is a walk of system calls (the engine's overhead per
        task 100 -> 130 µs with one on each ask)."""

    @classmethod
    def for_run(cls, worktree_root: Path, run_id: str) -> BuildDirs:
        """The slots of run ``run_id``, whose worktrees go under ``worktree_root``."""
        return cls(worktree_root / run_id / FOLDER)

    def lease(self, worktree: Path) -> Path:
        """The slot folder ``worktree`` holds, the lowest free one taken (and made) if it
        holds none yet."""
        key = self._real.get(worktree) or worktree.resolve()
        self._real[worktree] = key
        slot = self._held.get(key)
        if slot is None:
            taken = set(self._held.values())
            slot = next(n for n in range(len(taken) + 1) if n not in taken)
            self._held[key] = slot
        folder = self.root / str(slot)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def release(self, worktree: Path) -> None:
        """``worktree`` is done with: its slot goes to the next worktree that asks."""
        if not self._held:
            return
        key = self._real.pop(worktree, None) or worktree.resolve()
        self._held.pop(key, None)

    def slot_of(self, path: Path) -> Path | None:
        """The slot folder of the worktree ``path`` is in (its top or a folder below), or
        None outside every worktree that holds one."""
        if not self._held:
            return None
        known = self._real.get(path)
        if known is not None and known in self._held:
            return self.root / str(self._held[known])
        real = path.resolve()
        for folder in (real, *real.parents):
            slot = self._held.get(folder)
            if slot is not None:
                return self.root / str(slot)
        return None

    def target_dir(self, path: Path) -> Path | None:
        """``CARGO_TARGET_DIR`` for a command run in ``path`` (see :meth:`slot_of`)."""
        slot = self.slot_of(path)
        return None if slot is None else slot / TARGET

    def lend(self, cwd: Path, env: dict[str, str]) -> Path | None:
        """For a command run in ``cwd``: ``CARGO_TARGET_DIR`` set in ``env`` to its slot's
        target folder, and the slot's folder returned (the one a jail makes writable). None,
        and ``env`` as it was, outside a worktree that holds a slot or where ``env`` names a
        target folder already (a gate's own setting)."""
        if "CARGO_TARGET_DIR" in env:
            return None
        slot = self.slot_of(cwd)
        if slot is not None:
            env["CARGO_TARGET_DIR"] = str(slot / TARGET)
        return slot

    def remove_all(self, *, keep_builds: bool = False) -> None:
        """Forget every slot and remove their folders (the run's end).

        ``keep_builds``: the run stays resumable (stopped, or resuming now), so the slots a
        build was kept in stay for its resume to lease again, and only the empty ones go.
        The run's lease lets one process at a time drive it, and the dead driver's commands
        died with it (:mod:`engine.parent_death`), so no two builds share a kept slot; a
        straggler would only make cargo wait on its lock of the folder."""
        self._held.clear()
        self._real.clear()
        if not keep_builds:
            shutil.rmtree(self.root, ignore_errors=True)
            return
        for slot in sorted(self.root.glob("*")):
            with contextlib.suppress(OSError):
                if not any(slot.iterdir()):
                    slot.rmdir()
        with contextlib.suppress(OSError):
            self.root.rmdir()  # only when no slot is left
