"""Waking readers in other processes when something they wait for was committed.

On PostgreSQL the writer calls :func:`notify` inside its transaction (``pg_notify`` is
delivered at commit, never for a rolled-back batch) and a reader holds a :class:`Wakeup`,
which LISTENs on a dedicated connection and wakes only for its own key (a run id). SQLite has
no such channel, so a :class:`Wakeup` there simply sleeps a short polling interval. Either way
the reader re-queries after each wake-up, so a lost or coalesced notification costs latency,
never an event; a PostgreSQL reader also re-queries every ``safety_s`` in case its listening
connection dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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
    """``await wakeup.wait()`` returns when ``key`` may have news on ``channel``.

    Use as ``async with Wakeup(...) as wakeup`` *before* the first query, so a commit between
    the query and the wait still wakes the reader.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        channel: str,
        key: str,
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

    @property
    def listening(self) -> bool:
        """True on PostgreSQL, where commits wake the reader; False when polling."""
        return self._driver is not None

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload == self._key:
            self._flag.set()

    async def __aenter__(self) -> Wakeup:
        if self._engine.dialect.name == "postgresql":
            conn = await self._engine.connect()
            try:
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection
                await driver.add_listener(self._channel, self._on_notify)
            except BaseException:
                await conn.close()
                raise
            self._conn, self._driver = conn, driver
        return self

    async def wait(self) -> None:
        """Until a notification for the key (PostgreSQL) or one polling interval (SQLite)."""
        if self._driver is None:
            await asyncio.sleep(self._poll_s)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flag.wait(), timeout=self._safety_s)
        self._flag.clear()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, driver = self._conn, self._driver
        self._conn = self._driver = None
        if conn is None:
            return
        try:
            if not driver.is_closed():
                await driver.remove_listener(self._channel, self._on_notify)
        finally:
            await conn.close()
