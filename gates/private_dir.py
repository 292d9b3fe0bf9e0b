"""The sandbox's private folder (the commands' ``HOME`` and ``TMPDIR``), and the ones that
processes gone for good left behind.

A sandbox removes its folder when it is closed or collected, or when the interpreter exits.
A process that never got there — SIGKILLed (``kill -9``, the OOM killer, systemd's stop
after its grace), or ended at once by a second Ctrl-C (``os._exit``) — left its folder in
the temp directory, with whatever the commands had put in their home (tool caches), one more
for every such stop, for good. So each folder holds a lock for as long as its sandbox lives
(an ``flock`` on its :data:`OWNER` file, which the kernel drops with the process, whatever
its PID namespace), and a new sandbox removes the folders whose lock it can take.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
from pathlib import Path

PREFIX = "shopfloor-sandbox-"
OWNER = ".owner"
"""The file in a private folder that its live sandbox holds locked."""


def make_private_dir() -> tuple[Path, int, list[str]]:
    """A new private folder in the temp directory, the open descriptor that holds its lock
    (closing it lets the folder be removed by the next sandbox), and the names of the
    folders no live process held, removed first (their commands' leftovers bear marks that
    start with those names: :mod:`engine.strays`)."""
    abandoned = remove_abandoned(Path(tempfile.gettempdir()))
    folder = Path(tempfile.mkdtemp(prefix=PREFIX))
    fd = os.open(folder / OWNER, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return folder, fd, abandoned


def remove_private_dir(folder: str, fd: int) -> None:
    """Remove ``folder``, then let go of its lock (a sandbox's end)."""
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.close(fd)


def remove_abandoned(temp: Path) -> list[str]:
    """Remove this user's private folders in ``temp`` whose lock no process holds; their
    names.

    A folder without its lock file is left alone: one being made this moment has none yet
    (and one made before folders had it cannot be told from a live one).
    """
    uid = os.getuid()
    removed = []
    try:
        entries = [e for e in os.scandir(temp) if e.name.startswith(PREFIX)]
    except OSError:
        return []
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
            if info.st_uid != uid or not stat.S_ISDIR(info.st_mode):
                continue
            fd = os.open(f"{entry.path}/{OWNER}", os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: its sandbox lives
            os.close(fd)
            continue
        try:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
        finally:
            os.close(fd)
    return removed
