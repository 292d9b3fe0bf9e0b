"""Keeping the gate cache's folders bounded: its entries are files nothing else removes.

A factory run every night for months keys a new verdict on every tree it checks, and each
upgrade of the gates' code or tools orphans all the entries before it (``gates.cache``); the
secrets gate's answers by file (``gates.secrets_memo``) grow with every file changed. So an
entry's modification time says when it was last used — written, or read at a hit
(:func:`read_entry` refreshes it, at most once per :data:`REFRESH_S`) — and once per run
:func:`prune` removes the entries not used for ``[gates] cache_max_age_days``, then, while the
folders hold more than ``cache_max_mb`` on disk, the least recently used ones.

Other processes may read, write and prune the same folders meanwhile (two runs sharing a data
home): entries are replaced whole by a rename (``engine.files``), a reader that finds one gone
or unreadable has a miss, and a prune that finds one already gone counts it as removed by the
other. Whatever cannot be removed is left for the next run.

The same bound (:func:`evict`) keeps the data home's other growing folders, whose entries are
whole folders (:func:`tree_entry`): mypy's seeds by repository (``gates.mypy_seed``), the
repositories of ended demos (``tui.demo_upkeep``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from typing import NamedTuple

REFRESH_S = 3600.0
"""A hit moves an entry's modification time on only when it is older than this: an entry read
again and again in one run costs one metadata write, not one per read."""
SCRATCH_AGE_S = 3600.0
"""A scratch file (``engine.files``) older than this is a crashed writer's, never to be renamed."""
DAY_S = 86_400.0
MB = 1_000_000


@dataclass(frozen=True)
class CacheLimits:
    """``[gates] cache_max_age_days`` and ``cache_max_mb``."""

    max_age_days: float = 30.0
    """An entry not used for this long is removed."""
    max_mb: float = 1000.0
    """The folders' size on disk (as ``du`` counts it) kept at most; least recently used first."""


@dataclass(frozen=True)
class CacheUse:
    """A count of entries and their size on disk in bytes."""

    files: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class Pruned:
    """What one :func:`prune` removed and what it left."""

    removed: CacheUse
    kept: CacheUse


class Entry(NamedTuple):
    """One thing :func:`evict` may remove: a file or a folder, when it was last used, its
    size on disk."""

    path: str
    used: float
    size: int


def read_entry(path: Path) -> str | None:
    """The text of the entry at ``path``, or None when it is missing or unreadable (a miss).

    A hit marks the entry used (its modification time, through the open file: no second
    lookup of the path) when it was last marked over :data:`REFRESH_S` ago.
    """
    try:
        with path.open("rb") as file:
            data = file.read()
            if time.time() - os.fstat(file.fileno()).st_mtime > REFRESH_S:
                with contextlib.suppress(OSError):  # a read-only cache: it ages, still a hit
                    os.utime(file.fileno() if os.utime in os.supports_fd else path)
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def cache_folders(directory: Path) -> list[Path]:
    """``directory`` and the folders in it (the secrets gate's answers by file)."""
    try:
        with os.scandir(directory) as listing:
            inner = [Path(e.path) for e in listing if e.is_dir(follow_symlinks=False)]
    except OSError:
        return [directory]
    return [directory, *sorted(inner)]


def _disk_size(stat: os.stat_result) -> int:
    blocks = getattr(stat, "st_blocks", None)  # what a small file takes: a whole block
    return blocks * 512 if blocks is not None else stat.st_size


def _entries(folders: Iterable[Path], now: float) -> tuple[list[Entry], list[str]]:
    """The entries of ``folders`` and the scratch files crashed writers left there."""
    found: list[Entry] = []
    scratch: list[str] = []
    for folder in folders:
        try:
            with os.scandir(folder) as listing:
                listed = list(listing)
        except OSError:
            continue
        for item in listed:
            name = item.name
            is_scratch = name.startswith(".") and name.endswith(".tmp")
            if not (is_scratch or name.endswith(".json")):
                continue  # not the cache's: left alone
            try:
                stat = item.stat(follow_symlinks=False)
            except OSError:
                continue  # gone meanwhile
            if not S_ISREG(stat.st_mode):
                continue
            if is_scratch:
                if now - stat.st_mtime > SCRATCH_AGE_S:
                    scratch.append(item.path)
                continue
            found.append(Entry(item.path, stat.st_mtime, _disk_size(stat)))
    return found, scratch


def _remove(path: str) -> bool:
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        return True  # another process's prune took it
    except OSError:
        return False
    return True


def prune(folders: Sequence[Path], limits: CacheLimits, *, now: float | None = None) -> Pruned:
    """Remove the entries of ``folders`` not used within ``limits.max_age_days``, then the
    least recently used ones until what is left takes at most ``limits.max_mb`` on disk."""
    now = time.time() if now is None else now
    entries, scratch = _entries(folders, now)
    for path in scratch:
        _remove(path)
    return evict(entries, limits, now=now)


def evict(entries: list[Entry], limits: CacheLimits, *, now: float | None = None) -> Pruned:
    """Remove the ``entries`` (files, or whole folders: :func:`tree_entry`) not used within
    ``limits.max_age_days``, then the least recently used ones until what is left takes at
    most ``limits.max_mb`` on disk. ``entries`` is sorted in place, most recently used first."""
    now = time.time() if now is None else now
    oldest = now - limits.max_age_days * DAY_S
    entries.sort(key=lambda e: e.used, reverse=True)  # most recently used first
    removed = kept = CacheUse()
    full = False
    for entry in entries:
        full = full or kept.bytes + entry.size > limits.max_mb * MB  # and every older one
        if (entry.used >= oldest and not full) or not _remove(entry.path):
            kept = CacheUse(kept.files + 1, kept.bytes + entry.size)
        else:
            removed = CacheUse(removed.files + 1, removed.bytes + entry.size)
    return Pruned(removed, kept)


def tree_size(path: Path) -> int:
    """What the file or folder at ``path`` takes on disk, all it holds included (as ``du``
    counts it: symbolic links are not followed); 0 when it is gone."""
    try:
        stat = os.lstat(path)
    except OSError:
        return 0
    total = _disk_size(stat)
    if not S_ISDIR(stat.st_mode):
        return total
    try:
        with os.scandir(path) as listing:
            inner = [Path(item.path) for item in listing]
    except OSError:
        return total
    return total + sum(tree_size(item) for item in inner)


def tree_entry(path: Path) -> Entry | None:
    """The folder (or file) at ``path`` as one entry :func:`evict` removes whole, last used
    at its own modification time; None when it is gone."""
    try:
        mtime = os.lstat(path).st_mtime
    except OSError:
        return None
    return Entry(str(path), mtime, tree_size(path))


def usage(folders: Iterable[Path]) -> CacheUse:
    """How many entries ``folders`` hold and their size on disk."""
    entries, _ = _entries(folders, time.time())
    return CacheUse(len(entries), sum(e.size for e in entries))
