"""Keeping the data home's ``demos/`` bounded: a ``shopfloor demo`` a night left a repository
a night, forever.

A demo without ``--out`` makes a new repository in ``demos/`` (``tui.demo_repo``; ~330 KB for
the inventory example). Before it does, the repositories of demos whose runs ended are bounded
as the gate cache is (``gates.cache_upkeep.evict``): removed whole once unused for
:data:`DEMO_LIMITS`'s days, then the least recently used while they take more than its MB on
disk. A repository was last used when it or its ``.git`` folder last changed (git writes there
at every commit, branch or worktree; ``git log`` writes nothing).

Never removed: a repository whose run this database has not seen end (a live run, or one
stopped and resumable: ``resume`` works in it), one no run in this database names (its run may
be in another database, or not started), and whatever is not named as a demo's repository
(``dna/``, the demos' DNA copies; a folder of the user's). ``status`` of an ended run whose
repository is gone says so and goes on. A demo given ``--out`` is the user's and never here.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from engine.events import Outcome
from gates.cache_upkeep import CacheLimits, Entry, Pruned, evict, tree_entry
from storage.errors import StorageError
from storage.store import SqlEventStore

DEMO_LIMITS = CacheLimits(max_age_days=30.0, max_mb=200.0)
"""What ``demos/`` keeps of the demos whose runs ended."""
DEMO_NAME = re.compile(r"[A-Za-z0-9_.-]+-[0-9]{8}-[0-9]{6}-[0-9a-f]{4}")
"""A demo's repository, as ``prepare_demo_repo`` names it: ``inventory-20261125-061917-9584``."""


def _demo_folders(demos: Path) -> list[Path]:
    try:
        with os.scandir(demos) as listing:
            return [
                Path(item.path)
                for item in listing
                if DEMO_NAME.fullmatch(item.name) and item.is_dir(follow_symlinks=False)
            ]
    except OSError:  # no demos yet
        return []


async def _ended(store: SqlEventStore, folder: Path) -> bool:
    """Whether runs in ``store`` worked in ``folder`` and every one of them ended."""
    runs = await store.list_runs(limit=1000, repo=f"{folder.parent.name}/{folder.name}")
    return bool(runs) and all(run.outcome is not Outcome.RUNNING for run in runs)


def _entry(folder: Path) -> Entry | None:
    entry = tree_entry(folder)
    try:
        git = os.lstat(folder / ".git").st_mtime
    except OSError:
        return entry
    return entry._replace(used=max(entry.used, git)) if entry is not None else None


async def prune_demos(
    demos: Path, database: str, limits: CacheLimits = DEMO_LIMITS
) -> Pruned | None:
    """Bound the repositories of ended demos in ``demos`` by ``limits``; None when the
    database ``database`` could not be read (nothing is removed: the run says why)."""
    folders = await asyncio.to_thread(_demo_folders, demos)
    if not folders:
        return evict([], limits)
    try:
        async with await SqlEventStore.open(database) as store:
            ended = [folder for folder in folders if await _ended(store, folder)]
    except StorageError:
        return None

    def _prune() -> Pruned:
        return evict([e for e in map(_entry, ended) if e is not None], limits)

    return await asyncio.to_thread(_prune)


def removed_line(pruned: Pruned | None, limits: CacheLimits = DEMO_LIMITS) -> str | None:
    """What a demo says it removed before it started, or None when it removed nothing."""
    if pruned is None or not pruned.removed.files:
        return None
    return (
        f"removed {pruned.removed.files} earlier demo repositor"
        f"{'y' if pruned.removed.files == 1 else 'ies'} ({pruned.removed.bytes / 1e6:.1f} MB; "
        f"demos/ keeps ended demos for {limits.max_age_days:g} days, {limits.max_mb:g} MB at "
        "most; --out keeps one for good)"
    )
