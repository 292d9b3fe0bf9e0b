"""A query cancelled twice while SQLite runs it leaves no close that waits for ever.

The first cancellation makes SQLAlchemy terminate the connection (a graceful close, shielded);
the second cancels the wait for that close. Through SQLAlchemy's own aiosqlite dialect the
second one force-stopped the connection's worker thread, and the graceful close still running
then queued a stop no thread would answer: a task pending for ever, and an event loop whose
close (``asyncio.run``, a test's teardown) hung on it (storage/sqlite_dialect.py).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import text

from storage.sqlite_dialect import SQLiteDialect
from storage.store import SqlEventStore

QUERY_S = 0.6


def _with_pause(dbapi_connection: Any, _record: Any) -> None:
    """``pause(s)``: a statement that holds aiosqlite's worker thread for ``s`` seconds."""
    dbapi_connection.create_function("pause", 1, time.sleep)


async def test_a_query_cancelled_twice_leaves_no_task_pending(tmp_path: Path) -> None:
    store = await SqlEventStore.open(str(tmp_path / "runs.db"))
    assert isinstance(store.engine.dialect, SQLiteDialect)
    sa_event.listen(store.engine.sync_engine, "connect", _with_pause)
    await store.engine.dispose()  # the next connection gets pause()

    async def slow_query() -> None:
        async with store.engine.connect() as conn:
            await conn.execute(text(f"SELECT pause({QUERY_S})"))

    before = asyncio.all_tasks()
    query = asyncio.create_task(slow_query())
    await asyncio.sleep(0.15)  # the statement is in the worker thread
    query.cancel()  # the connection is invalidated and its terminate begins
    await asyncio.sleep(0.05)
    query.cancel()  # the wait for the terminate's close is cancelled
    done, _ = await asyncio.wait([query], timeout=5)
    assert done and query.cancelled()

    started = asyncio.get_running_loop().time()
    others = asyncio.all_tasks() - before - {asyncio.current_task()}
    if others:
        _, pending = await asyncio.wait(others, timeout=5)
        assert not pending, f"tasks left waiting for ever: {pending}"
    assert asyncio.get_running_loop().time() - started < 5
    await store.close()
