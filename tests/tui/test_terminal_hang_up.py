"""A TUI whose terminal hangs up exits, whatever it was doing (tui/terminal_driver.py).

Each test runs the app on a pty of its own (tests/support/hung_up_tui.py), closes the
pty's other end at a chosen moment and waits for the process to end.
"""

from __future__ import annotations

import os
import sys
import time

from demo_process import ROOT
from hung_up_tui import CLOSING, TITLE
from own_terminal import OwnTerminal

from engine.interrupt import EXIT_INTERRUPTED

SCRIPT = ROOT / "tests" / "support" / "hung_up_tui.py"
ENV = {**os.environ, "NO_COLOR": "1"}


def test_a_tui_draws_on_after_its_terminal_hung_up_and_still_exits() -> None:
    """Textual's writer thread died on the first write to the hung-up terminal, and the
    31st write queued after it blocked the event loop for good: the SIGHUP was never
    handled and the process stayed (a demo hung up on a loaded machine drew a frame more
    than the 29 writes it always queued)."""
    tui = OwnTerminal([sys.executable, str(SCRIPT), "running"], cwd=ROOT, env=ENV)
    try:
        tui.wait_for(TITLE.encode())
        tui.hang_up()
        tui.proc.wait(timeout=90)  # before: alive until killed (a loaded CI took over 30 s)
    finally:
        tui.close()
    assert tui.proc.returncode == EXIT_INTERRUPTED  # stopped like Ctrl-C


def test_a_terminal_hung_up_after_the_app_quit_lets_the_process_exit() -> None:
    """``q``, then the connection drops while the run closes down: the SIGCONT that comes
    with the SIGHUP had Textual start its terminal mode again for an app that had ended,
    with an input thread nothing stopped, and the interpreter waited for it at exit."""
    tui = OwnTerminal([sys.executable, str(SCRIPT), "closing"], cwd=ROOT, env=ENV)
    try:
        tui.wait_for(TITLE.encode())
        tui.type(b"q")
        tui.wait_for(CLOSING.encode())
        tui.hang_up()
        tui.proc.wait(timeout=90)  # before: alive until killed (a loaded CI took over 30 s)
    finally:
        tui.close()
    assert tui.proc.returncode == 0  # quit by q; the hang-up only cut the closing wait short


def test_a_hang_up_reaches_a_process_that_draws_nothing() -> None:
    """The tests' own terminal (tests/support/own_terminal.py): the hang-up reaches a
    process that writes nothing more after the test started watching its output. Closed
    while a thread of the test sat in a read of it, the terminal stayed up."""
    quiet = (
        "import signal, sys\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})\n"
        "print('ready', flush=True)\n"
        "signal.sigwait({signal.SIGHUP})\n"
        "sys.exit(7)\n"
    )
    terminal = OwnTerminal([sys.executable, "-c", quiet], cwd=ROOT, env=ENV)
    try:
        terminal.wait_for(b"ready")
        time.sleep(0.2)  # the reader waits for more output
        terminal.hang_up()
        terminal.proc.wait(timeout=10)
    finally:
        terminal.close()
    assert terminal.proc.returncode == 7  # it got the SIGHUP
