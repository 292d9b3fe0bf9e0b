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

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import StaticPool


class SqliteChanges:
    """``await changes.seen()``: True when another connection may have committed since the
    last call (or the first). Always True where it cannot tell: an in-memory database (one
    connection shared by all, whose own commits never move its counter) or a connection
    that failed — the reader then queries, and meets the failure there."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._driver: Any = None
        self._version: object = None

    async def open(self) -> None:
        """Take a connection of its own, unless the database has only one."""
        if isinstance(self._engine.sync_engine.pool, StaticPool):
            return
        conn = await self._engine.connect()
        try:
            raw = await conn.get_raw_connection()
            self._driver = raw.driver_connection
            self._version = await self._read()
        except Exception:  # the reader's own query says what is wrong
            await _drop(conn)
            self._driver = None
            return
        self._conn = conn

    async def _read(self) -> object:
        rows = await self._driver.execute_fetchall("PRAGMA data_version")
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
        """Give the connection back (or drop it when it failed)."""
        conn, self._conn, self._driver = self._conn, None, None
        if conn is not None:
            await _drop(conn)


async def _drop(conn: AsyncConnection) -> None:
    with contextlib.suppress(Exception):
        await conn.close()
