"""Ctrl-C and SIGTERM for a run: the first stops gracefully, the second exits at once.

The first SIGINT or SIGTERM cancels the run's task. The Factory lets the cancellation
through — running attempts are cancelled, their worktrees removed — and emits no RunFinished,
so the log ends like a crash's and ``shopfloor resume`` goes on from it. The caller still
drains the bus to storage and flushes traces. A second signal does not wait for any of that:
the process exits with 128 + the signal's number and the next ``resume`` cleans up after it.

SIGTERM is what ``systemctl stop`` and ``docker stop`` send, and SIGHUP what a run gets
when its terminal goes away (an SSH session that dropped outside tmux, ``tmux
kill-session``), so both are handled like a first Ctrl-C. After the run's task ended,
:class:`ShutdownSignals` keeps the same promise for the closing steps: a signal there cuts
the metrics linger short instead of killing the process before its last events and spans
are written. The signal that stopped the run counts as the first there too
(``run_interruptible(on_stop=...)``): the closing steps do not linger for it, and the next
signal exits at once even while they wait on a slow database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import NoReturn, TypeVar

T = TypeVar("T")

EXIT_INTERRUPTED = 130
"""The exit code of a run stopped by a signal (the shell's code for Ctrl-C)."""

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Ctrl-C; ``systemctl stop`` and ``docker stop``; a terminal hanging up (an SSH session that
dropped, ``tmux kill-session``)."""


def exit_saying(line: str) -> Callable[[int], NoReturn]:
    """An ``os._exit`` that first writes ``line`` to stderr: a second signal leaves no time
    for the closing lines that say how the run goes on, and the process ended silent."""
    said = (line.rstrip("\n") + "\n").encode()

    def hard_exit(code: int) -> NoReturn:
        with contextlib.suppress(OSError):
            os.write(2, said)
        os._exit(code)

    return hard_exit


@contextlib.contextmanager
def _handlers(
    loop: asyncio.AbstractEventLoop, handler: Callable[[signal.Signals], None]
) -> Iterator[None]:
    """Route :data:`STOP_SIGNALS` to ``handler`` on ``loop`` (nothing where a loop cannot)."""
    installed: list[signal.Signals] = []
    for signum in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, handler, signum)
            installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


async def run_interruptible(
    run: Callable[[], Awaitable[T]],
    *,
    hard_exit: Callable[[int], object] = os._exit,
    on_stop: Callable[[], object] | None = None,
) -> T | None:
    """Run ``run()``; returns its result, or None when a first stop signal stopped it.

    ``on_stop`` is called with that first signal (before the run is cancelled).
    """
    task: asyncio.Future[T] = asyncio.ensure_future(run())
    stopped = False

    def stop() -> None:
        nonlocal stopped
        stopped = True
        if on_stop is not None:
            on_stop()
        task.cancel()

    with stop_signals_call(stop, hard_exit=hard_exit):
        try:
            return await task
        except asyncio.CancelledError:
            if stopped and task.cancelled():
                return None
            raise


@contextlib.contextmanager
def stop_signals_call(
    first: Callable[[], object], *, hard_exit: Callable[[int], object] = os._exit
) -> Iterator[None]:
    """While the block runs, the first stop signal calls ``first`` and a second exits at once
    with 128 + its number.

    For a front end with a graceful stop of its own: the TUI exits as its quit key makes it
    (the terminal is restored, the run's worker is cancelled and stops like a first Ctrl-C).
    Cancelling the TUI's task instead would leave the terminal in raw mode.
    """
    signals = 0

    def on_signal(signum: signal.Signals) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            first()
        else:
            hard_exit(128 + int(signum))

    with _handlers(asyncio.get_running_loop(), on_signal):
        yield


class ShutdownSignals:
    """While a finished run closes down: the first signal asks to hurry, a second exits.

    ``stopping`` is set by the first SIGINT/SIGTERM, or by :meth:`stopped_by_person` when
    a signal (or the TUI's Ctrl-C) already stopped the run; closing steps that only wait
    (the metrics linger) watch it and end early, steps that write (the last batch of events,
    the trace flush) finish regardless. A second signal exits at once with 128 + its number.
    """

    def __init__(self, *, hard_exit: Callable[[int], object] = os._exit) -> None:
        self.stopping = asyncio.Event()
        self._hard_exit = hard_exit

    def stopped_by_person(self) -> None:
        """The run was stopped by a first Ctrl-C or stop signal: that one counts, so the
        closing steps hurry and the next signal exits at once (a person pressing Ctrl-C
        twice, systemd sending SIGTERM twice, is not kept waiting on a stuck database)."""
        self.stopping.set()

    def _on_signal(self, signum: signal.Signals) -> None:
        if self.stopping.is_set():
            self._hard_exit(128 + int(signum))
        self.stopping.set()

    @contextlib.contextmanager
    def installed(self) -> Iterator[ShutdownSignals]:
        """Handle the signals on the running loop for the duration of the block."""
        with _handlers(asyncio.get_running_loop(), self._on_signal):
            yield self
