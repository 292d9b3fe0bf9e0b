"""The storage writer: drains a bus subscription into the event store, batch by batch.

The engine never waits for the disk. It emits to the bus; this writer, on its own task, takes
whatever has queued up since its last commit and appends it in one transaction (group
commit). Under load the batches grow, so the number of commits stays small while every event
is still stored, in order. A failed append is retried with a short backoff; if it keeps
failing the writer raises — events are never dropped quietly. A database that cannot be
reached (a restart, a failover) is waited for up to ``outage_s`` before that: a run overnight
should not fail on a blip it can ride out. A refusal waiting cannot cure (a privilege revoked,
a table dropped) is raised at once, as :class:`~storage.errors.WritesRefused`.

A connection lost during COMMIT leaves the writer not knowing whether the batch was stored.
Its retry is then refused as a duplicate when it was; the writer checks that the stored
events are this batch's, byte for byte, and goes on instead of failing the run.

A person watching the run is told (``on_notice``) once when a batch starts being retried and
once when it is stored after all: the warnings of each attempt go to the log only.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from engine.events import EventBase
from storage.errors import (
    AlreadyStored,
    StorageError,
    WritesRefused,
    lost_connection,
    refusal,
    refused_for_good,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH_LIMIT = 512
OUTAGE_S = 30.0
"""How long the writer waits out a database that cannot be reached before the run stops, by
default (a run's ``[storage] outage_wait_s`` or ``$SHOPFLOOR_OUTAGE_WAIT_S`` sets another)."""
MAX_BACKOFF_S = 2.0


def outage_seconds(text: str) -> float | None:
    """``text`` as an outage window: a positive, finite number of seconds; else None."""
    try:
        seconds = float(text)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


class _Appender(Protocol):
    async def append(self, events: Sequence[EventBase]) -> None: ...

    async def holds(self, events: Sequence[EventBase]) -> bool: ...


class _BatchSource(Protocol):
    async def get_batch(self, limit: int = ...) -> list[EventBase] | None: ...

    def task_done(self, count: int = 1) -> None: ...


class StorageWriter:
    """Appends every event of a subscription to a store, one transaction per batch.

    ``await writer.run()`` returns once the bus is closed and everything is stored. If an
    append still fails after ``retries`` more attempts (and, while the database cannot be
    reached, after ``outage_s`` of failures) it raises the
    :class:`~storage.errors.StorageError`, leaving that batch unacknowledged so the bus's
    ``drain`` does not report it as handled; the owner should treat that as fatal for the run.
    """

    def __init__(
        self,
        store: _Appender,
        subscription: _BatchSource,
        *,
        batch_limit: int = DEFAULT_BATCH_LIMIT,
        retries: int = 3,
        backoff_s: float = 0.05,
        outage_s: float = OUTAGE_S,
        on_notice: Callable[[str], object] | None = None,
    ) -> None:
        """``on_notice``: called with one line when appending starts failing and being
        retried, and with one when it succeeds again."""
        if batch_limit < 1:
            raise ValueError("batch_limit must be at least 1")
        if retries < 0:
            raise ValueError("retries must not be negative")
        if not (math.isfinite(outage_s) and outage_s > 0):
            raise ValueError("outage_s must be a positive number of seconds")
        self.store = store
        self.subscription = subscription
        self.batch_limit = batch_limit
        self.retries = retries
        self.backoff_s = backoff_s
        self.outage_s = outage_s
        self.on_notice = on_notice
        self.batches = 0
        """Transactions committed."""
        self.events_written = 0
        """Events stored."""
        self.retried = 0
        """Appends that failed and were tried again."""

    async def run(self) -> None:
        """Store batches until the subscription ends (the bus closed)."""
        while True:
            batch = await self.subscription.get_batch(self.batch_limit)
            if batch is None:
                return
            await self._append_with_retry(batch)
            self.batches += 1
            self.events_written += len(batch)
            self.subscription.task_done(len(batch))

    async def _append_with_retry(self, batch: Sequence[EventBase]) -> None:
        delay = self.backoff_s
        attempt = 0
        failing_since: float | None = None
        unknown = False  # a connection was lost: the batch may have been committed
        while True:
            try:
                await self.store.append(batch)
                self._recovered(batch, failing_since)
                return
            except AlreadyStored:
                if unknown and await self._stored(batch):
                    log.warning("%d events were stored; their commit's answer was lost", len(batch))
                    self._recovered(batch, failing_since)
                    return
                self._give_up()  # a second writer, or a replay: retrying cannot help
                raise
            except StorageError as exc:
                if refused_for_good(exc):  # a revoked privilege, a dropped table: say so now
                    self._give_up()
                    if isinstance(exc, WritesRefused):
                        raise
                    raise refusal(exc)(str(exc)) from exc  # the log, or a projection, gone?
                unknown = unknown or lost_connection(exc)
                now = time.monotonic()
                failing_since = now if failing_since is None else failing_since
                riding_out = lost_connection(exc) and now - failing_since < self.outage_s
                if attempt >= self.retries and not riding_out:
                    self._give_up()
                    raise
                attempt += 1
                self.retried += 1
                if attempt == 1:
                    wait = f" for up to {self.outage_s:g}s" if lost_connection(exc) else ""
                    self._notice(f"storing the run's events failed; retrying{wait}: {exc}")
                log.warning(
                    "storing %d events failed (attempt %d), retrying in %.2fs: %s",
                    len(batch),
                    attempt,
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)

    def _notice(self, text: str) -> None:
        if self.on_notice is not None:
            self.on_notice(" ".join(text.split()))

    def _recovered(self, batch: Sequence[EventBase], failing_since: float | None) -> None:
        if failing_since is not None:
            took = time.monotonic() - failing_since
            self._notice(f"recovered: {len(batch)} events stored after {took:.1f}s of retries")

    async def _stored(self, batch: Sequence[EventBase]) -> bool:
        try:
            return await self.store.holds(batch)
        except StorageError as exc:
            log.warning("cannot tell whether %d events were stored: %s", len(batch), exc)
            return False

    def _give_up(self) -> None:
        close = getattr(self.subscription, "close", None)
        if close is not None:
            close()  # the bus must not wait forever on a writer that gave up
