"""The one bridge between a run's events and Textual.

A single exclusive worker, started by the app, reads an event source and posts small
messages (:mod:`tui.messages`) to a target (the screen that views the run). Nothing else in
the TUI touches the engine, and the engine never touches a widget: events are the whole
interface.

The source is either an :class:`~engine.bus.Subscription` (in process: engine and TUI share
the loop) or any async iterator of events (``shopfloor attach`` tails the stored log of a
run another process executes; the runs screen follows a live run the same way). Iterators
are read by a feeder task into a queue, so both kinds are consumed in batches.

Each batch becomes one :class:`~tui.messages.EventsArrived`, in order: a flood of agent
output from fifty agents interleaved with state events costs one message per batch, not
one per line (Textual's ``can_replace`` only merges neighbours, and interleaved agents are
never neighbours).

The bridge keeps a window of :data:`IN_FLIGHT` batches the screen has not folded yet (the
screen acknowledges each). Without it a flood queued hundreds of messages in the screen's
queue, and a key press or a redraw waited behind all of them; with it the events wait in
the source instead, and the next batch takes everything that came meanwhile. A
subscription's batch is marked handled (``task_done``) once it is posted, and the
subscription is closed if the app quits first, so ``EventBus.close`` never waits on a
screen that is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterable, Sequence

from textual.dom import DOMNode
from textual.message_pump import MessagePump
from textual.worker import Worker

from engine.bus import Subscription
from engine.events import EventBase
from tui.messages import EventsArrived, EventStreamEnded

IN_FLIGHT = 2
"""Batches posted to the screen and not yet folded, at most: one folding, one waiting."""
BRIDGE_GROUP = "event-bridge"
"""Worker group (and name) of the bridge; the worker is exclusive within it."""

EventSource = Subscription | AsyncIterable[EventBase]
"""What the bridge reads: a bus subscription or any async iterator of events."""


class IteratorBatches:
    """Reads an async iterator of events in a feeder task and hands them out in batches.

    The hand-over is a plain deque plus a wake-up event rather than an ``asyncio.Queue``:
    at a hundred thousand events a second the queue's per-item bookkeeping was a visible
    share of the TUI's ingest cost.
    """

    def __init__(self, events: AsyncIterable[EventBase]) -> None:
        self._items: deque[EventBase] = deque()
        self._ready = asyncio.Event()
        self._ended = False
        self._feeder = asyncio.create_task(self._feed(events), name="event-bridge-feeder")
        self.error: BaseException | None = None
        """What the iterator raised, if it ended with an error."""

    async def _feed(self, events: AsyncIterable[EventBase]) -> None:
        append, ready = self._items.append, self._ready
        try:
            async for event in events:
                append(event)
                ready.set()
        except Exception as exc:  # the source failed: end the stream and say why
            self.error = exc
        finally:
            self._ended = True
            ready.set()

    async def get_batch(self, limit: int) -> list[EventBase] | None:
        """Wait for one event, then take up to ``limit`` without waiting; None at the end."""
        items = self._items
        while not items:
            if self._ended:
                return None
            self._ready.clear()
            await self._ready.wait()
        if len(items) <= limit:
            batch = list(items)
            items.clear()
            return batch
        popleft = items.popleft
        return [popleft() for _ in range(limit)]

    async def close(self) -> None:
        """Stop reading the iterator."""
        self._feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._feeder


class Window:
    """At most ``size`` batches posted and not yet acknowledged (None: no limit)."""

    def __init__(self, size: int | None) -> None:
        if size is not None and size < 1:
            raise ValueError(f"the window must hold at least one batch, got {size}")
        self.size = size
        self._open: deque[asyncio.Event] = deque()

    def message(self, batch: list[EventBase]) -> EventsArrived:
        """The message for ``batch``, counted in the window."""
        if self.size is None:
            return EventsArrived(batch)
        handled = asyncio.Event()
        self._open.append(handled)
        return EventsArrived(batch, handled)

    async def room(self) -> None:
        """Wait until one more batch fits."""
        if self.size is None:
            return
        while self._open and self._open[0].is_set():
            self._open.popleft()
        while len(self._open) >= self.size:
            await self._open[0].wait()
            self._open.popleft()


async def pump_events(
    source: EventSource,
    target: MessagePump,
    *,
    batch_limit: int = 512,
    in_flight: int | None = None,
    history: Sequence[EventBase] = (),
) -> int:
    """Post every event of ``source`` to ``target`` until the source ends.

    ``history`` is posted first: the events a resumed run logged before this process took
    it over, which its live subscription never carries (it starts at the resume).
    Returns the number of events delivered; posts :class:`EventStreamEnded` at the end. If
    the pump stops early (the app quit, so its workers were cancelled), a subscription is
    closed so that the bus's ``drain``/``close`` do not wait for a reader that is gone.
    With ``in_flight``, at most that many batches are posted and not yet acknowledged by
    ``target`` (:meth:`EventsArrived.acknowledge`); without, posting never waits.
    """
    window = Window(in_flight)
    delivered = 0
    try:
        for start in range(0, len(history), batch_limit):
            await window.room()
            logged = list(history[start : start + batch_limit])
            target.post_message(window.message(logged))
            delivered += len(logged)
            await asyncio.sleep(0)
    except BaseException:  # the app quit first: the live subscription must not hold the bus up
        if isinstance(source, Subscription):
            source.close()
        raise
    if isinstance(source, Subscription):
        return await _pump_subscription(source, target, batch_limit, window, delivered)
    batches = IteratorBatches(source)
    try:
        while True:
            await window.room()
            batch = await batches.get_batch(batch_limit)
            if batch is None:
                break
            target.post_message(window.message(batch))
            delivered += len(batch)
            await asyncio.sleep(0)
        target.post_message(EventStreamEnded(delivered, error=_describe(batches.error)))
        return delivered
    finally:
        await batches.close()


def _describe(error: BaseException | None) -> str:
    return "" if error is None else f"{type(error).__name__}: {error}"


async def _pump_subscription(
    subscription: Subscription, target: MessagePump, limit: int, window: Window, delivered: int
) -> int:
    with subscription.reading():  # a pump that stops early does not hold up the bus
        while True:
            await window.room()
            batch = await subscription.get_batch(limit)
            if batch is None:
                target.post_message(EventStreamEnded(delivered))
                return delivered
            try:
                target.post_message(window.message(batch))
            finally:
                subscription.task_done(len(batch))
            delivered += len(batch)
            # Let the app's message loop run between bursts so the screen keeps up.
            await asyncio.sleep(0)


def start_bridge(
    owner: DOMNode,
    source: EventSource,
    target: MessagePump | None = None,
    history: Sequence[EventBase] = (),
) -> Worker[int]:
    """Start the bridge as ``owner``'s one exclusive worker of its group.

    Messages go to ``target`` (default: ``owner``), which acknowledges each batch it folded
    (the run screen does): at most :data:`IN_FLIGHT` wait unfolded. The worker lives as long
    as ``owner`` (the app, or the screen that follows a run). ``history`` goes first
    (:func:`pump_events`).
    """
    name = source.name if isinstance(source, Subscription) else type(source).__name__
    return owner.run_worker(
        pump_events(source, target or owner, in_flight=IN_FLIGHT, history=history),
        name=BRIDGE_GROUP,
        group=BRIDGE_GROUP,
        description=f"event bridge reading {name!r}",
        exclusive=True,
    )
