"""How long the event loop stood still while a call ran: for tests that a call leaves the
loop to every other agent, the TUI and the event writer (a listing done in a thread, a
command started without a ``preexec_fn``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from engine.parent_death import setpriv_wrapper

BALLAST_MB = 200
"""Memory a test process holds while it spawns, as a factory does (its SDKs, the TUI, the
runs' state): forking copies the page tables of all of it (the ``ballast`` fixture holds it)."""

needs_setpriv = pytest.mark.skipif(
    setpriv_wrapper() is None, reason="no setpriv with --pdeathsig: the preexec_fn is kept"
)


async def pauses(start: Callable[[], Awaitable[object]], times: int) -> list[float]:
    """The loop's longest pause while each of ``times`` calls of ``start`` runs."""
    gaps: list[tuple[float, float]] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.monotonic()
            gaps.append((now, now - last))
            last = now

    ticker = asyncio.create_task(tick())
    longest: list[float] = []
    try:
        await asyncio.sleep(0.01)
        for _ in range(times):
            started = time.monotonic()
            await start()
            ended = time.monotonic()
            await asyncio.sleep(0.005)  # the tick that ends a pause the call made
            longest.append(max(gap for at, gap in gaps if at > started and at - gap < ended))
    finally:
        done.set()
        await ticker
    return longest
