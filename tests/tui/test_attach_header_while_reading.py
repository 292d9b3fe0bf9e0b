"""What the header says before a followed run's first event is read.

``shopfloor attach RUN`` on a run in its build stage said "waiting for the run to start…"
until the log's first events were folded: 1.9 s on a quiet machine, 5 to 7 s on a busy
one, about a run that had started long before. A view that follows a stored run now says it
is reading that run's log; a run this process starts still says it waits for it to start.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from engine.events import EventBase
from tui.app import ShopfloorApp
from tui.widgets.run_header import RunHeader, reading_the_log


async def nothing_yet(release: asyncio.Event) -> AsyncIterator[EventBase]:
    """A stored log whose first read has not come back yet."""
    await release.wait()
    return
    yield  # an async generator


async def header_before_the_first_event(app_for: ShopfloorApp, release: asyncio.Event) -> str:
    async with app_for.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        shown = str(app_for.main.query_one(RunHeader).render())
        release.set()
        await pilot.pause(0.05)
    return shown


async def test_an_attached_view_says_it_reads_the_runs_log() -> None:
    release = asyncio.Event()
    app = ShopfloorApp(nothing_yet(release), waiting=reading_the_log("81205d2531d8"))
    assert await header_before_the_first_event(app, release) == (
        "reading the log of run 81205d2531d8…"
    )


async def test_a_run_started_here_still_waits_for_it_to_start() -> None:
    release = asyncio.Event()
    app = ShopfloorApp(nothing_yet(release))
    assert await header_before_the_first_event(app, release) == "waiting for the run to start…"
