"""A process on a terminal of its own, whose other end a test holds and can close.

The process is a session leader whose controlling terminal is the pty (as a login shell's
child, or a command under ``setsid``, is): closing the test's end is an SSH connection
dropping. The kernel then sends the process SIGHUP and SIGCONT, and every later write to
the terminal fails with EIO.

The kernel hangs the terminal up when the last reference to the test's end goes, and a
read in progress holds one: closed while a thread sat in ``os.read`` on it, the terminal
stayed up until the process wrote again, and a TUI waiting on a human, which draws
nothing, never got its hang-up (alive 60 s after the close). Here the reader waits in
``select`` and stops before the end is closed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import subprocess
import termios
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def _own_terminal() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class OwnTerminal:
    """``argv`` started on a new pty; :attr:`shown` collects what it draws."""

    def __init__(self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> None:
        self._terminal, side = pty.openpty()
        self.proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=side,
            stdout=side,
            stderr=side,
            preexec_fn=_own_terminal,
        )
        os.close(side)
        self.shown = bytearray()
        self._open = True
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        # Never blocked in a read: the kernel hangs the terminal up only once no call holds
        # the test's end any more, and a read that waits on a quiet terminal holds it.
        with contextlib.suppress(OSError):
            while self._open:
                if select.select([self._terminal], [], [], 0.02)[0]:
                    if not (chunk := os.read(self._terminal, 65536)):
                        return
                    self.shown.extend(chunk)

    def wait_for(self, text: bytes, within_s: float = 60) -> None:
        """Until the terminal showed ``text``; fails if the process ended first or it took
        longer than ``within_s``."""
        deadline = time.monotonic() + within_s
        while text not in self.shown:
            assert self.proc.poll() is None, f"the process ended before it showed {text!r}"
            assert time.monotonic() < deadline, f"the terminal never showed {text!r}"
            time.sleep(0.02)

    def type(self, keys: bytes) -> None:
        """Keys typed on the terminal."""
        os.write(self._terminal, keys)

    def hang_up(self) -> None:
        """Close the test's end: the connection drops."""
        if self._open:
            self._open = False
            self._reader.join()
            os.close(self._terminal)

    def close(self) -> None:
        """Kill the process if it still runs, and close the terminal."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.hang_up()
