"""Whether another connection committed to a SQLite database: ``PRAGMA data_version``.

SQLite cannot notify a reader, so a reader polls. A real query at every interval (a tail's
page of events, the decisions inbox's transaction) cost milliseconds of CPU each, 20 times a
second, for as long as the reader waited. ``data_version`` is a counter SQLite keeps per
connection that moves whenever any *other* connection — of this process or another —
commits: read on a connection kept for it, it tells in a few microseconds whether a real
query could find anything new.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import quote

import aiosqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.connect import sqlite_file


class SqliteChanges:
    """``await changes.seen()``: True when another connection may have committed since the
    last call (or the first). Always True where it cannot tell: an in-memory database (one
    connection shared by all, whose own commits never move its counter) or a connection
    that failed — the reader then queries, and meets the failure there.

    Its connection is its own, read-only (``mode=ro``), outside the engine's pool. Taken
    from the pool, it left the pool one connection short, so a reader's next query opened a
    new one: after the database file was deleted or replaced under a run, that new
    connection created an empty file at the path, or read the replacement with the old
    ``-wal`` beside it and checkpointed the run's log back into it on close (a resume then
    found "no run", or carried on a run whose database had been replaced). A read-only
    connection creates nothing and writes nothing.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: aiosqlite.Connection | None = None
        self._version: object = None

    async def open(self) -> None:
        """Open the connection of its own, unless the database is in memory."""
        path = sqlite_file(self._engine.url)
        if path is None:
            return
        try:
            conn = await aiosqlite.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
        except Exception:  # the reader's own query says what is wrong
            return
        self._conn = conn
        try:
            self._version = await self._read()
        except Exception:
            await self.close()

    async def _read(self) -> object:
        assert self._conn is not None
        rows: Any = await self._conn.execute_fetchall("PRAGMA data_version")
        return rows[0][0]

    async def seen(self) -> bool:
        """True when the database may hold news for the reader."""
        if self._conn is None:
            return True
        try:
            version = await self._read()
        except Exception:
            await self.close()
            return True
        if version == self._version:
            return False
        self._version = version
        return True

    async def close(self) -> None:
        """Close the connection (quietly when it failed)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
