"""Waking readers in other processes when something they wait for was committed.

On PostgreSQL the writer calls :func:`notify` inside its transaction (``pg_notify`` is
delivered at commit, never for a rolled-back batch) and a reader holds a :class:`Wakeup`,
which LISTENs on a dedicated connection and wakes only for its own key (a run id). SQLite has
no such channel, so a :class:`Wakeup` there polls, but cheaply: each interval it looks at
whether another connection committed (:mod:`storage.sqlite_changes`) and wakes only then.
Either way the reader re-queries after each wake-up, so a lost or coalesced notification
costs latency, never an event; a reader also re-queries every ``safety_s`` whatever it was
told (a PostgreSQL listening connection may drop silently), and a PostgreSQL one listens
again on a new connection once it sees its own dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.sqlite_changes import SqliteChanges

EVENTS_CHANNEL = "shopfloor_events"
DECISIONS_CHANNEL = "shopfloor_decisions"
DEFAULT_POLL_S = 0.05
DEFAULT_SAFETY_S = 2.0


async def notify(conn: AsyncConnection, channel: str, keys: Iterable[str]) -> None:
    """Queue one notification per distinct key on ``conn``'s transaction (PostgreSQL only)."""
    if conn.dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        await conn.execute(
            text("SELECT pg_notify(:channel, :key)"), {"channel": channel, "key": key}
        )


class Wakeup:
    """``await wakeup.wait()`` returns when ``key`` may have news on ``channel`` (any key
    when ``key`` is None: a reader of every run).

    Use as ``async with Wakeup(...) as wakeup`` *before* the first query, so a commit between
    the query and the wait still wakes the reader. When the listening connection dies (a
    server restart, ``pg_terminate_backend``) the next ``wait`` listens again on a new one
    and returns at once, so the reader re-queries what it may have missed meanwhile; while
    the server cannot be reached it waits ``safety_s`` per call and tries again.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        channel: str,
        key: str | None,
        *,
        poll_s: float = DEFAULT_POLL_S,
        safety_s: float = DEFAULT_SAFETY_S,
    ) -> None:
        self._engine = engine
        self._channel = channel
        self._key = key
        self._poll_s = poll_s
        self._safety_s = safety_s
        self._flag = asyncio.Event()
        self._conn: AsyncConnection | None = None
        self._driver: Any = None
        self._changes = SqliteChanges(engine)
        self.relistened = 0
        """How often the listening connection was lost and listening started again."""

    @property
    def listening(self) -> bool:
        """True while a PostgreSQL connection LISTENs for the key; False when polling."""
        return self._driver is not None and not self._driver.is_closed()

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        if self._key is None or payload == self._key:
            self._flag.set()

    def _on_lost(self, _connection: Any) -> None:
        self._flag.set()  # wake the reader now: it listens again and re-queries

    async def __aenter__(self) -> Wakeup:
        if self._engine.dialect.name == "postgresql":
            await self._listen()
        else:
            await self._changes.open()
        return self

    async def _listen(self) -> None:
        conn = await self._engine.connect()
        try:
            # Through SQLAlchemy first: a pooled connection the server dropped fails here
            # as a disconnect (and the pool drops its other stale ones), not inside LISTEN.
            await conn.exec_driver_sql("SELECT 1")
            await conn.rollback()  # LISTEN inside an open transaction waits for its commit
        except DBAPIError as exc:
            await _drop(conn)
            if not exc.connection_invalidated:
                raise
            conn = await self._engine.connect()
        try:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            await driver.add_listener(self._channel, self._on_notify)
            driver.add_termination_listener(self._on_lost)
        except BaseException:
            await _drop(conn)
            raise
        self._conn, self._driver = conn, driver

    async def wait(self) -> bool:
        """Until a notification for the key (PostgreSQL) or the first polling interval after
        which another connection had committed (SQLite); at most ``safety_s``. True when the
        reader may have news (told so, listening started again, or it cannot tell); False
        when ``safety_s`` passed with nothing said (a reader may still query now and then: a
        PostgreSQL listening connection can drop without a word)."""
        if self._engine.dialect.name != "postgresql":
            deadline = time.monotonic() + self._safety_s
            while True:
                await asyncio.sleep(self._poll_s)
                if await self._changes.seen():
                    return True
                if time.monotonic() >= deadline:
                    return False
        if not self.listening:
            await self._listen_again()
            return True
        told = False
        with contextlib.suppress(TimeoutError):
            told = await asyncio.wait_for(self._flag.wait(), timeout=self._safety_s)
        self._flag.clear()
        if not self.listening:
            await self._listen_again()
            return True
        return told

    async def _listen_again(self) -> None:
        """Replace a dead listening connection; on failure wait ``safety_s`` (polling)."""
        conn, self._conn, self._driver = self._conn, None, None
        if conn is not None:
            await _drop(conn)
        try:
            await self._listen()
        except Exception:  # SQLAlchemy's or the driver's: the server is not back yet
            await asyncio.sleep(self._safety_s)
            return
        self.relistened += 1
        self._flag.clear()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._changes.close()
        conn, driver = self._conn, self._driver
        self._conn = self._driver = None
        if conn is None:
            return
        try:
            driver.remove_termination_listener(self._on_lost)
            await driver.remove_listener(self._channel, self._on_notify)
        except Exception:  # the connection died meanwhile
            await _drop(conn)
        else:
            await conn.close()


async def _drop(conn: AsyncConnection) -> None:
    """Give up a connection that may be dead, without the pool trying to reset it."""
    with contextlib.suppress(Exception):
        await conn.invalidate()
    with contextlib.suppress(Exception):
        await conn.close()
