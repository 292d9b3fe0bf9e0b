"""Whether this process has a terminal to draw the control room on.

Its own module, free of the store: ``run``, ``demo`` and ``resume`` refuse ``--tui`` on no
terminal before the storage writer starts or the factory loads, and ``attach`` asks the
same question.
"""

from __future__ import annotations

import argparse
import sys

from tui.commands.exit_codes import UsageError


def on_a_terminal() -> bool:
    """Whether keys can be read and the screen drawn: on no terminal, the app drew its
    frames into a pipe and read end-of-file from stdin forever, at half a core."""
    stderr = sys.__stderr__
    return sys.stdin is not None and sys.stdin.isatty() and stderr is not None and stderr.isatty()


def refuse_a_tui_without_a_terminal(args: argparse.Namespace) -> None:
    """UsageError for ``--tui`` on no terminal (a script, ssh without -t, a unit): the run
    drew its control room into a pipe for the whole night; the progress lines are what
    such a process can show."""
    if getattr(args, "tui", False) and not on_a_terminal():
        raise UsageError(
            "--tui draws the control room on a terminal, and this process has none (stdin "
            "or stderr is not one: ssh without -t, a script, a unit); leave --tui out for "
            "the run's progress lines, or `shopfloor attach RUN_ID` from a terminal"
        )
