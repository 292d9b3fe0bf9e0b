"""A coding agent's time limit, counted in the factory's running time, not the clock's.

A factory stopped with Ctrl-Z does not use up the time of the agent it runs:
:class:`~agents.providers.cli.CliProvider` waits for each run with
:func:`within_running_time`.
"""

from __future__ import annotations

import asyncio
import time

TICK_S = 1.0
"""Seconds between the looks at the clock that tell a stopped factory (Ctrl-Z) apart."""


async def within_running_time(task: asyncio.Future[int], limit_s: float) -> bool:
    """Whether ``task`` ended within ``limit_s`` seconds of this process's running time.

    The agent runs in a session of its own and goes on while the factory is stopped (Ctrl-Z,
    then ``fg``), but the monotonic clock counts the stop: after a long pause an agent that
    had run for seconds was killed as timed out. The deadline is looked at every
    :data:`TICK_S`; a wake-up later than that by over half a tick means the loop was not
    running, and the deadline moves on by the gap.
    """
    deadline = time.monotonic() + limit_s
    while True:
        before = time.monotonic()
        wait = min(TICK_S, deadline - before)
        if wait <= 0:
            return False
        done, _ = await asyncio.wait({task}, timeout=wait)
        if done:
            return True
        late = time.monotonic() - before - wait
        if late > TICK_S / 2:  # stopped (or starved) meanwhile: not the agent's time
            deadline += late
