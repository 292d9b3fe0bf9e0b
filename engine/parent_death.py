"""Children that die with the factory: Linux's parent-death signal for a command we start.

Gate commands, agents' tool commands and coding-agent CLIs run in sessions of their own (a
terminal's Ctrl-C or hang-up is the run's to handle, not theirs), so nothing kills them
when the run's process is SIGKILLed (``kill -9``, the OOM killer, a second stop after
systemd's grace): a gate, a hung test, a coding agent still calling its model, went on
alone in a worktree the next ``resume`` removes. In bubblewrap's jail ``--die-with-parent``
sees to it; outside it, :func:`dies_with_us` does.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
"""prctl's option for the signal a process gets when its parent dies (linux/prctl.h)."""


def dies_with_us() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has Linux SIGKILL the command when this process dies, or None
    where there is no ``prctl``.

    Only the command itself is covered, not what it starts in turn (its own children see
    their pipes close). The command must be started from the thread that runs the event
    loop for as long as the command runs: the signal follows the thread that forked it.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # died before that took hold
            os._exit(1)

    return preexec
