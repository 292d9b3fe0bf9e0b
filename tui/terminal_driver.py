"""The TUI's terminal driver: Textual's Linux driver, made to outlive its terminal.

A terminal goes away when the SSH connection under it drops (outside tmux) or its tmux
session is killed: the kernel hangs it up. Every write to it fails with EIO from then on, a
read returns end-of-file, and the process that controls it (``shopfloor`` started as a
session leader, as under ``setsid`` or a terminal emulator's ``-e``) gets SIGHUP and SIGCONT
together. SIGHUP stops the run like Ctrl-C (:mod:`engine.interrupt`; the app quits as ``q``
makes it). Textual's driver (textual 8.2.8, ``textual/drivers/linux_driver.py``) could keep
the process from ever exiting on the rest:

- Its writer thread dies on the first write that fails, and each later write is put on that
  thread's queue of 30 with nobody taking from it: the 31st blocks the event loop for good,
  and with it the SIGHUP's handler and the app's exit. A demo hung up while it ran queued
  29: the SIGCONT's restart below and the app's leaving write that many; one more frame
  drawn between the hang-up and the app's exit (a loaded machine) and the TUI hung.
- Its SIGCONT handler (``fg`` after Ctrl-Z) starts the terminal mode again, whatever the
  app is doing: on a hang-up, a second writer and a second input thread, the first input
  thread left to stop only if it sees the exit flag in the 0.1 s the second takes to stop;
  after the app ended (``q``, then the terminal hung up while the run closes down), an
  input thread (not a daemon) that nothing stops, which the interpreter waits for at exit.

:class:`TerminalDriver` writes through a :class:`~tui.output.LosableStream` (the first
failed write points stderr at /dev/null, as ``nohup`` would have: the writer thread lives
and its queue drains), and lets SIGCONT start the terminal mode again only on a terminal
that is still there.
"""

from __future__ import annotations

import errno
import signal
import sys
import termios
from types import FrameType
from typing import TYPE_CHECKING, Any

from textual.drivers.linux_driver import LinuxDriver

from tui.output import LosableStream

if TYPE_CHECKING:
    from textual.app import App

HUNG_UP_ERRORS = (errno.EIO, errno.ENXIO)
"""What a terminal's calls fail with once it was hung up (Linux; macOS)."""


def terminal_gone(fd: int) -> bool:
    """Whether ``fd`` is a terminal that was hung up (False for one that works, or for
    something that is no terminal at all: a pipe, a file)."""
    try:
        termios.tcgetattr(fd)
    except termios.error as exc:
        return bool(exc.args) and exc.args[0] in HUNG_UP_ERRORS
    return False


class TerminalDriver(LinuxDriver):
    """Textual's Linux driver, whose output and Ctrl-Z resume survive a hang-up."""

    def __init__(
        self,
        app: App[Any],
        *,
        debug: bool = False,
        mouse: bool = True,
        size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        # The file the driver's writer thread writes to (the attribute is Textual's own,
        # read when application mode starts): a failed write no longer ends that thread.
        self._file = LosableStream(sys.__stderr__)  # type: ignore[arg-type,assignment]
        self._resume_after_stop = signal.getsignal(signal.SIGCONT)  # Textual's, set just now
        signal.signal(signal.SIGCONT, self._on_continue)

    def _on_continue(self, signum: int, frame: FrameType | None) -> None:
        if terminal_gone(self.fileno):
            return  # the SIGCONT that comes with a hang-up: nothing left to draw on
        if callable(self._resume_after_stop):
            self._resume_after_stop(signum, frame)
