"""SQLite's run leases: an exclusive ``flock`` on ``<database file>.leases/<run id>``.

The file's text names the holder (pid, host, when) and the kernel drops the lock with the
process (:mod:`storage.lease` says why runs are leased). Kept apart from the lease itself,
which also holds PostgreSQL's advisory locks.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from storage.errors import RunInFlight, StorageError
from storage.paths import parse_db_url

if TYPE_CHECKING:
    from storage.store import SqlEventStore

PROBE_GRACE_S = 0.25
"""How long taking a SQLite lease tries again while its file is locked. ``status``, ``runs``
and an attached control room tell a live run from a stopped one by locking its file shared
for a moment (:func:`storage.lease.live_runs`); a resume that tried just then was refused as
if a live process drove the run, naming the dead one. A live driver holds the lock for good."""


def _holder_text() -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return f"pid {os.getpid()} on {socket.gethostname()}, since {now}"


def lease_folder(store: SqlEventStore) -> Path | None:
    """Where a SQLite database keeps its leases; None for PostgreSQL."""
    if store.backend != "sqlite":
        return None
    database = parse_db_url(store.url).database or ""
    return Path(database).with_name(Path(database).name + ".leases")


# -- SQLite ----------------------------------------------------------------------------------


def try_flock(path: Path, mode: int, *, create: bool = True) -> int | None:
    """An open descriptor of ``path`` locked with ``mode``, or None if another holds it
    (FileNotFoundError when ``path`` is missing and not ``create``)."""
    fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o600)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:
        os.close(fd)
        raise
    return fd


def _still_named(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``: a lock on a file that a prune
    unlinked meanwhile locks nothing anyone else will look at."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def read_holder(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip() or "another process"
    except OSError:
        return "another process"


async def take_file_past_probes(folder: Path, run_id: str, db: str = "") -> int:
    """:func:`_take_file`, tried again for :data:`PROBE_GRACE_S` while the lock is held;
    ``db`` is the ``--db`` the :class:`RunInFlight` line's commands carry."""
    deadline = time.monotonic() + PROBE_GRACE_S
    while True:
        try:
            return _take_file(folder, run_id, db)
        except RunInFlight:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.005)


def _take_file(folder: Path, run_id: str, db: str) -> int:
    path = folder / run_id
    while True:
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            fd = try_flock(path, fcntl.LOCK_EX)
            if fd is None or _still_named(fd, path):
                break
            os.close(fd)  # `db prune` removed the file between our open and our lock
        except OSError as exc:
            raise StorageError(f"cannot take the lease on run {run_id} in {folder}: {exc}") from exc
    if fd is None:
        raise RunInFlight(run_id, read_holder(path), db)
    try:  # a full disk fails here first: the run could store none of its events either
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder_text().encode(), 0)
    except OSError as exc:
        os.close(fd)
        raise StorageError(
            f"cannot take the lease on run {run_id} in {folder}: {exc.strerror or exc}"
        ) from exc
    return fd


def prune_leases(store: SqlEventStore) -> int:
    """Remove the lease files (SQLite) that no live process holds; returns how many.

    A run leaves its file behind when its process ends: one per run ever started. A file is
    removed only while locked here, and a process taking a lease checks that the file it
    locked is still the one its path names (:func:`_take_file`), so a lease taken during a
    prune is never a lock on a removed file. PostgreSQL leases leave nothing behind.
    """
    folder = lease_folder(store)
    if folder is None or not folder.is_dir():
        return 0
    removed = 0
    for path in sorted(folder.iterdir()):
        try:
            fd = try_flock(path, fcntl.LOCK_EX, create=False)
        except OSError:  # gone meanwhile, a folder, unreadable: not ours to remove
            continue
        if fd is None:
            continue  # a live process drives that run
        try:
            if _still_named(fd, path):
                path.unlink()
                removed += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed
