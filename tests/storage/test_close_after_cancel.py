"""Closing the store while a cancelled query unwinds: the query ends, nothing hangs.

Textual cancels a view's workers as the app quits without waiting for them, and the command
then closes the store. A worker cancelled mid-query still held its connection; the store
closed it, and SQLAlchemy's task closing the cancelled query's connection awaited an answer
from it for ever: the event loop's close, which cancels and awaits every task left, hung (a
TUI test's teardown timed out at 180 s in a clean-clone CI, twice).
"""

from __future__ import annotations

import asyncio

from storage.store import SqlEventStore


async def read_for_ever(store: SqlEventStore) -> None:
    while True:
        await store.get_run("abc123abc123")


async def test_a_query_cancelled_as_the_store_closes_ends(backend_url: str) -> None:
    for round_ in range(12):
        store = await SqlEventStore.open(backend_url)
        reader = asyncio.create_task(read_for_ever(store))
        await asyncio.sleep(0.005 + 0.002 * (round_ % 6))  # a query is in flight
        reader.cancel()
        await asyncio.wait_for(store.close(), 10)
        left = asyncio.all_tasks() - {asyncio.current_task()}
        for task in left:  # what the event loop's close does with the tasks left
            task.cancel()
        _, stuck = await asyncio.wait(left, timeout=10) if left else (set(), set())
        assert not stuck, f"round {round_}: tasks never ended after the store closed: {stuck}"
        assert reader.cancelled()
