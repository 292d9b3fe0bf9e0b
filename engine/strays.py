"""What a command left running outside its process group, found by a mark and killed.

A command runs in a process group of its own, killed whole when it ends, times out or is
cancelled (:mod:`gates.sandbox`; a coding agent's CLI too, :mod:`agents.providers.cli`). In
bubblewrap's jail that is all: the jail's PID namespace ends with the command, and everything
inside with it. Without the jail, a process that
started a session of its own (``setsid``, a daemon's double fork: a test server, a file
watcher an agent put in the background) left the group and lived on after the command, the
attempt and the run, one more per command that started it; and while it held the command's
output open, the sandbox waited its drain timeout for the end of the output each time.

Such a process keeps its environment, so every command started without the jail carries a
mark of its own (:data:`MARK`, a random token) that its descendants inherit, and once the
command is over every process of this user that bears the mark is killed. A process that
empties its environment (``env -i``) escapes it; none of the common daemons do.

A mark may start with its owner's name (the sandbox's private folder): when that owner was
killed before it could sweep (SIGKILL), the next one to find it gone sweeps every mark that
starts with its name (:mod:`gates.private_dir`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal

MARK = "SHOPFLOOR_COMMAND"
"""The environment variable that marks a command's processes without the jail."""

ROUNDS = 5
"""Sweeps at most: a marked process forking while the last sweep ran is found by the next."""


def kill_group(pgid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    """Send ``sig`` (SIGKILL unless said) to the process group ``pgid``, if it is still there."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def new_mark() -> str:
    """A token no other command's processes bear."""
    return secrets.token_hex(8)


def marked_processes(token: str, *, prefix: bool = False) -> list[int]:
    """This user's processes whose environment bears ``token`` as :data:`MARK` (zombies have
    none: they are not listed); with ``prefix``, a mark that starts with ``token``."""
    needle = f"\0{MARK}={token}".encode() + (b"" if prefix else b"\0")
    uid = os.getuid()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            with open(f"{entry.path}/environ", "rb") as environ:
                text = b"\0" + environ.read()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if needle in text or (not prefix and text.endswith(needle[:-1])):
            found.append(int(entry.name))
    return found


def kill_marked(token: str, *, prefix: bool = False) -> int:
    """SIGKILL every process bearing ``token`` (with ``prefix``, a mark that starts with
    it); how many there were."""
    killed: set[int] = set()
    for _ in range(ROUNDS):
        left = [p for p in marked_processes(token, prefix=prefix) if p != os.getpid()]
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed.update(left)
    return len(killed)
