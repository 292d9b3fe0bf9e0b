"""The in-process event bus.

``emit`` stamps an event with the run id, the next sequence number and the time, folds it
into the run's :class:`~engine.state.RunState` at once (so the engine always decides on
current state), and hands it to every subscriber's queue. Subscribers — the storage writer,
telemetry, the TUI bridge, the headless console — drain their queues at their own pace; a
slow subscriber never blocks the engine. ``drain()`` waits until all of them caught up.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from engine.events import EventBase, utcnow
from engine.state import RunState

E = TypeVar("E", bound=EventBase)

_CLOSED = object()


class DurabilityLost(RuntimeError):
    """The durable subscriber (the storage writer) stopped: events are no longer stored."""


class Subscription:
    """One subscriber's view of the bus: an async iterator over events, in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.durable = False
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.closed = False

    def _put(self, item: object) -> None:
        if self.closed:
            return
        self._pending += 1
        self._idle.clear()
        self._queue.put_nowait(item)

    def task_done(self, count: int = 1) -> None:
        """Mark ``count`` delivered events as fully handled (for :meth:`EventBus.drain`)."""
        self._pending -= count
        if self._pending <= 0:
            self._pending = 0
            self._idle.set()

    async def get_batch(self, limit: int = 512) -> list[EventBase] | None:
        """Wait for at least one event, then take up to ``limit`` without waiting.

        Returns None once the bus closed and everything was delivered. The caller calls
        :meth:`task_done` with the batch's length once it handled the batch.
        """
        first = await self._queue.get()
        if first is _CLOSED:
            self.task_done()
            return None
        batch = [first]
        closed = False
        while len(batch) < limit and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is _CLOSED:
                closed = True
                self.task_done()
                break
            batch.append(item)
        if closed:
            self._queue.put_nowait(_CLOSED)
            self._pending += 1
        return batch  # type: ignore[return-value]

    async def __aiter__(self) -> AsyncIterator[EventBase]:
        while True:
            batch = await self.get_batch()
            if batch is None:
                return
            for event in batch:
                yield event
                self.task_done()

    async def idle(self) -> None:
        await self._idle.wait()

    def close(self) -> None:
        """Stop receiving (a subscriber that quits early, e.g. the TUI): queued events are
        dropped, later ones are not delivered, and :meth:`EventBus.drain` stops waiting."""
        self.closed = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(_CLOSED)
        self._pending = 0
        self._idle.set()


class EventBus:
    """Stamps, folds and fans out the events of one run."""

    def __init__(self, run_id: str, state: RunState | None = None) -> None:
        self.run_id = run_id
        self.state = state if state is not None else RunState()
        self._seq = self.state.last_seq
        self._subs: list[Subscription] = []
        self._listeners: list[Callable[[EventBase], None]] = []
        self.closed = False

    def subscribe(self, name: str, *, durable: bool = False) -> Subscription:
        """A new subscription that receives every event emitted from now on.

        A ``durable`` subscriber (the storage writer) marks events handled only once they are
        committed; :meth:`durable` waits for those subscribers alone.
        """
        sub = Subscription(name)
        sub.durable = durable
        self._subs.append(sub)
        return sub

    def listen(self, callback: Callable[[EventBase], None]) -> None:
        """Call ``callback`` synchronously on each event, right after the fold."""
        self._listeners.append(callback)

    def emit(self, event: E) -> E:
        """Stamp ``event``, apply it to the run state and deliver it. Returns the stamped event."""
        if self.closed:
            raise RuntimeError("event bus is closed")
        self._seq += 1
        stamped = event.model_copy(update={"run_id": self.run_id, "seq": self._seq, "ts": utcnow()})
        self.state.apply(stamped)
        for listener in self._listeners:
            listener(stamped)
        for sub in self._subs:
            sub._put(stamped)
        return stamped

    async def durable(self) -> None:
        """Wait until every event emitted so far is committed by the durable subscribers.

        The engine awaits this before anything irreversible (moving a branch, shipping) and
        before waiting on a human, so what it acted on is never lost in a crash.
        """
        if any(sub.durable and sub.closed for sub in self._subs) and not self.closed:
            raise DurabilityLost("the event store stopped accepting events")
        await asyncio.gather(*(sub.idle() for sub in self._subs if sub.durable))

    async def drain(self) -> None:
        """Wait until every subscriber has handled everything emitted so far."""
        await asyncio.gather(*(sub.idle() for sub in self._subs))

    async def close(self) -> None:
        """Deliver an end-of-stream to every subscriber and wait for them to finish."""
        if self.closed:
            return
        self.closed = True
        for sub in self._subs:
            sub._put(_CLOSED)
        await self.drain()


Emit = Callable[[EventBase], object]
"""What agents and gates receive to report events: ``bus.emit``."""

AsyncHook = Callable[[], Awaitable[None]]
