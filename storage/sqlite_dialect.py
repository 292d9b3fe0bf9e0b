"""SQLAlchemy's aiosqlite dialect, its connections ended without a race that hangs the loop.

A query cancelled while it runs (a TUI view's worker as the app quits, a watcher stopped)
leaves its connection in an unknown state, so SQLAlchemy invalidates it and *terminates* it:
a graceful ``close()`` of the aiosqlite connection in a shielded task and, when the wait for
that is cancelled in turn, a forced ``stop()``. aiosqlite's worker thread leaves at the first
stop it reads; the graceful close, still running in its shielded task, then queues a second
stop and awaits an answer no thread will give. That task never ends, and neither does the
event loop's close, which waits for every task: a TUI test's teardown hung for its 180 s, and
``shopfloor attach`` could fail to exit on quitting. Under load it was 4 hangs in 80 runs of
tests/tui/test_runs_screen_stopped.py.

Here a connection being terminated is closed gracefully, shielded, and never stopped a second
time while that close runs: a cancellation propagates at once, the close finishes on its own
(its one stop is answered) and the thread exits. Outside a greenlet (a connection the garbage
collector finalises) nothing can be awaited, and the dialect's own terminate, a lone stop,
stays. The dialect registers itself as ``sqlite+shopfloor_aiosqlite``; :func:`engine_url`
names it for an engine.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import URL
from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

DRIVERNAME = "sqlite+shopfloor_aiosqlite"

_closing: set[asyncio.Future[None]] = set()
"""Graceful closes under way whose waiter was cancelled: held until they end."""


class SQLiteDialect(SQLiteDialect_aiosqlite):
    """aiosqlite, with :meth:`do_terminate` that never stops a connection twice."""

    supports_statement_cache = True

    def do_terminate(self, dbapi_connection: Any) -> None:
        """Close ``dbapi_connection`` and wait for it, shielded; outside a greenlet, stop it."""
        if not in_greenlet():
            super().do_terminate(dbapi_connection)
            return
        closing = asyncio.ensure_future(dbapi_connection.driver_connection.close())
        _closing.add(closing)
        closing.add_done_callback(_closed)
        await_only(asyncio.shield(closing))


def _closed(task: asyncio.Future[None]) -> None:
    """Forget a finished close; what it raised was the connection's last word, not news."""
    _closing.discard(task)
    if not task.cancelled():
        task.exception()


def engine_url(url: URL) -> URL:
    """``url`` (a ``sqlite+aiosqlite`` URL) on this dialect."""
    return url.set(drivername=DRIVERNAME)


registry.register("sqlite.shopfloor_aiosqlite", __name__, "SQLiteDialect")
