"""Ctrl-C for a run: the first press stops gracefully, the second exits at once.

The first SIGINT cancels the run's task. The Factory lets the cancellation through — running
attempts are cancelled, their worktrees removed — and emits no RunFinished, so the log ends
like a crash's and ``shopfloor resume`` goes on from it. The caller still drains the bus to
storage. A second SIGINT does not wait for any of that: the process exits with 130 and the
next ``resume`` cleans up after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

EXIT_INTERRUPTED = 130


async def run_interruptible(
    run: Callable[[], Awaitable[T]],
    *,
    hard_exit: Callable[[int], object] = os._exit,
) -> T | None:
    """Run ``run()``; returns its result, or None when a first Ctrl-C stopped it."""
    loop = asyncio.get_running_loop()
    task: asyncio.Future[T] = asyncio.ensure_future(run())
    presses = 0

    def on_sigint() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            task.cancel()
        else:
            hard_exit(EXIT_INTERRUPTED)

    installed = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        installed = True
    try:
        return await task
    except asyncio.CancelledError:
        if presses and task.cancelled():
            return None
        raise
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)
