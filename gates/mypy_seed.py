"""Warm mypy caches for new worktrees: a seed copied in before each types check.

Every attempt gets a fresh git worktree, so mypy started cold in each: 13.5 s on shopfloor's
own repository against 1.4 s warm, the largest cost left in the task gates. mypy's cache
(SQLite shards by default since mypy 1.19, JSON files when a project turns that off) is
updated in place, so worktrees cannot share one through hard links: a run's writes would go
through to every other. Instead the types gate copies a *seed* into a cache folder of the run's
own (``--cache-dir``) and mypy brings it up to date there.

A seed is published only by the gate of the factory's own checkouts — the merge candidates
and the baseline, where no agent's tools ever ran — from a mypy run that finished; an
attempt's worktree, where an engineer's commands ran, only reads seeds. While a seed is
missing, the merge step's gate runs even when the gate cache holds its verdict
(``MypyGate.wants_run``): a task merged onto a branch that did not move holds its attempt's
tree, so in a run whose tasks merge one after another no merge ran mypy, and every attempt
started cold — a new repository's too, whose types gate (chosen on each tree) took no seeds
(on a four-module strict project, 0.8 to 2.5 s cold against 0.2 to 0.4 s seeded, measured
through the gate on this 2-core machine).

Stale entries are safe as long as mypy looks at the file: it keeps a module's entry when the
source file's recorded size and mtime match, else when its content's hash does, and re-checks a
module whose dependencies' interfaces changed. The size-and-mtime shortcut is the danger (the
recorded path is relative for ``mypy .``, so it matches in every worktree): an edit of the same
size within the same second, or with its mtime put back, would be taken as unchanged. So a seed
notes the newest mtime it can have recorded (``made``), and before a seeded run every Python
file of the workspace no newer than that gets the current time: mypy hashes it. mypy's
``--cache-fine-grained`` is not set: it keeps stale entries on purpose, for its daemon.

Layout under the store's root: ``KEY/current`` names the newest seed ``KEY/TOKEN/``, which
holds ``cache/`` (the copied cache folder) and ``made`` (see above). A publisher
writes a new token and then swaps ``current``; the one before is kept for readers still
copying it, older ones are removed.

Each repository's seeds (a few MB a project: mypy's cache of its modules and of the standard
library's) sit in a folder of their own, and a factory that works on many repositories, or a
``demo`` a night, made one more each time. The folder's modification time says when a seed of
it was last copied or published, and once per run :meth:`MypySeeds.prune` bounds the other
repositories' folders as the gate cache is bounded (``gates.cache_upkeep``: ``[gates]
cache_max_age_days`` and ``cache_max_mb``), each folder removed whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from engine.beneath import folder_beneath
from engine.protocols import CommandResult, Sandbox
from gates.cache_upkeep import CacheLimits, Pruned, evict, tree_entry
from gates.tool_gate import ReportFile

MADE = "made"
CURRENT = "current"
STAGING_MAX_AGE_S = 3600.0
"""A staging folder older than this was left by a publisher that died: removed."""

SOURCE_SUFFIXES = (".py", ".pyi")
NOT_SOURCES = frozenset({".git", ".shopfloor", ".mypy_cache", "__pycache__", "node_modules"})


def _sources(workspace: Path) -> list[Path]:
    """The Python files of ``workspace`` that mypy may read."""
    found = []
    for folder, dirs, files in os.walk(workspace):
        dirs[:] = [d for d in dirs if d not in NOT_SOURCES]
        found += [Path(folder, name) for name in files if name.endswith(SOURCE_SUFFIXES)]
    return found


def newest_mtime(workspace: Path) -> int:
    """The newest whole-second mtime among ``workspace``'s Python files (0 for none)."""
    newest = 0
    for path in _sources(workspace):
        with contextlib.suppress(OSError):
            newest = max(newest, int(path.stat().st_mtime))
    return newest


def age_out(workspace: Path, made: int) -> int:
    """Give each Python file of ``workspace`` whose mtime is not newer than ``made`` the
    current time (later than ``made``), so mypy compares its content with a seed's entry
    rather than trusting its size and mtime; how many were touched."""
    stamp = max(time.time(), made + 1.0)
    touched = 0
    for path in _sources(workspace):
        try:
            if int(path.stat().st_mtime) <= made:
                os.utime(path, (stamp, stamp))
                touched += 1
        except OSError:
            continue
    return touched


class MypySeeds:
    """Seeds of mypy caches under ``root`` (the run's data folder), by key."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.primed = 0
        """Runs that started from a seed (the others started cold)."""
        self.published = 0

    @classmethod
    def for_repo(cls, root: Path, repo: Path) -> MypySeeds:
        """The seeds of one repository's runs under ``root`` (another repository's would
        only be re-checked: mypy keys its entries by path and content)."""
        digest = hashlib.sha256(str(repo.resolve()).encode()).hexdigest()[:16]
        return cls(root / digest)

    def current(self, key: str) -> Path | None:
        """The newest seed for ``key``, if any."""
        try:
            token = (self.root / key / CURRENT).read_text(encoding="utf-8").strip()
        except OSError:
            return None
        seed = self.root / key / token
        return seed if token and (seed / "cache").is_dir() else None

    def prime(self, key: str, cache_dir: Path, workspace: Path) -> bool:
        """Copy the newest seed for ``key`` into ``cache_dir`` (which must not exist yet) for
        a mypy run in ``workspace``, whose files no newer than the seed are then touched
        (:func:`age_out`); False when there is none or it could not be copied (``cache_dir``
        is then left absent: mypy starts cold)."""
        seed = self.current(key)
        if seed is None:
            return False
        try:
            made = int((seed / MADE).read_text(encoding="utf-8"))
            # copies, never links: mypy writes there
            shutil.copytree(seed / "cache", cache_dir, ignore=_links)
        except (OSError, ValueError):  # removed under us by a newer publication: start cold
            shutil.rmtree(cache_dir, ignore_errors=True)
            return False
        age_out(workspace, made)
        self.primed += 1
        self._mark_used()
        return True

    def publish(self, key: str, cache_dir: Path, workspace: Path, started: float) -> bool:
        """Make a copy of ``cache_dir`` (mypy's cache after a finished run in ``workspace``,
        begun at ``started``) the newest seed for ``key``; False when it could not be stored,
        or ``cache_dir`` is a link. The workspace's code ran beside mypy: a link it put in the
        cache is left out (copied, the seed would hold the host's file it leads to)."""
        if os.path.islink(cache_dir):
            return False
        slot = self.root / key
        token = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
        staging = slot / f"{token}.tmp"
        made = max(int(started), newest_mtime(workspace))
        try:
            slot.mkdir(parents=True, exist_ok=True)
            shutil.copytree(cache_dir, staging / "cache", ignore=_links)
            (staging / MADE).write_text(str(made), encoding="utf-8")
            staging.rename(slot / token)
            pointer = slot / f"{CURRENT}.{token}.tmp"
            pointer.write_text(token, encoding="utf-8")
            pointer.replace(slot / CURRENT)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            return False
        self.published += 1
        self._prune(slot, token)
        self._mark_used()
        return True

    def _mark_used(self) -> None:
        """Note that this repository's seeds were used now (:meth:`prune` reads it)."""
        with contextlib.suppress(OSError):  # removed meanwhile by another run's prune
            os.utime(self.root)

    def prune(self, limits: CacheLimits) -> Pruned:
        """Bound the seeds of the other repositories beside this one's (the folders of
        :meth:`for_repo`'s ``root``) by ``limits``: a repository's folder is removed whole once
        none of its seeds was used for ``max_age_days``, then the least recently used ones
        while they take more than ``max_mb`` on disk. This repository's, whose run is
        starting, are kept and marked used. Blocking (a thread's)."""
        self._mark_used()
        try:
            with os.scandir(self.root.parent) as listing:
                others = [
                    Path(item.path)
                    for item in listing
                    if item.is_dir(follow_symlinks=False) and item.name != self.root.name
                ]
        except OSError:  # no seeds yet
            others = []
        return evict([e for e in map(tree_entry, others) if e is not None], limits)

    def _prune(self, slot: Path, newest: str) -> None:
        """Remove the seeds older than the one before ``newest`` (a newer one, published
        meanwhile, stays), and stale staging folders."""
        try:
            entries = list(slot.iterdir())
        except OSError:
            return
        seeds = sorted(e.name for e in entries if e.is_dir() and not e.name.endswith(".tmp"))
        keep = {name for name in seeds if name >= newest}
        keep.update([name for name in seeds if name < newest][-1:])
        now = time.time()
        for entry in entries:
            if entry.name.endswith(".tmp") and entry.is_dir():
                try:
                    stale = now - entry.stat().st_mtime > STAGING_MAX_AGE_S
                except OSError:
                    continue
                if stale:
                    shutil.rmtree(entry, ignore_errors=True)
            elif entry.is_dir() and entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)


async def run_mypy(
    sandbox: Sandbox,
    argv: Sequence[str],
    folder: Path,
    workspace: Path,
    *,
    timeout_s: float,
    env: Mapping[str, str] | None,
    seeds: MypySeeds | None,
    key: str,
    publish: bool,
) -> CommandResult:
    """``argv`` (``mypy ...``) in ``folder`` with a cache folder of this run's own inside the
    workspace's ``.shopfloor/``, primed from ``seeds`` and removed after; published as the
    newest seed when ``publish`` and mypy finished (exit 0 or 1).

    A run of its own: the worktree's ``.mypy_cache`` is not read, where an engineer's
    commands may have left entries mypy would trust (an edit of the same size with its mtime
    put back passes mypy's check unseen).
    """
    scratch = ReportFile(workspace, "mypy-cache", "")
    try:
        cache_dir = await asyncio.to_thread(scratch.prepare)
    except OSError:  # the workspace is unusable: mypy run there says so
        return await sandbox.run(list(argv), folder, timeout_s=timeout_s, env=env)
    try:
        if seeds is not None:
            await asyncio.to_thread(seeds.prime, key, cache_dir, workspace)
        started = time.time()
        with_cache = [argv[0], "--cache-dir", str(cache_dir), *argv[1:]]
        result = await sandbox.run(with_cache, folder, timeout_s=timeout_s, env=env)
        if (
            publish
            and seeds is not None
            and not result.timed_out
            and result.returncode in (0, 1)
            and folder_beneath(workspace, cache_dir.relative_to(workspace).as_posix())
        ):
            await asyncio.to_thread(seeds.publish, key, cache_dir, workspace, started)
        return result
    finally:
        await asyncio.to_thread(_drop, scratch, cache_dir)


def _links(folder: str, names: list[str]) -> set[str]:
    """The ``names`` in ``folder`` that are symlinks (``shutil.copytree``'s ``ignore``)."""
    return {name for name in names if os.path.islink(os.path.join(folder, name))}


def _drop(scratch: ReportFile, cache_dir: Path) -> None:
    shutil.rmtree(cache_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        scratch.collect()  # lets go of .shopfloor/ (removed when nothing else is in use there)
