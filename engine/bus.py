"""The in-process event bus.

``emit`` stamps an event with the run id, the next sequence number and the time (``emit_new``
builds one with its stamp), removes the secrets from its free text (an API key a model wrote,
a provider's error quoting a header: :func:`~engine.event_redaction.clean_event`), folds it
into the run's :class:`~engine.state.RunState` at once (so the engine always decides on
current state), and hands it to every subscriber's queue: every subscriber, and whatever
reads the stored log, sees it without its secrets. Subscribers — the storage writer,
telemetry, the TUI bridge, the headless console — drain their queues at their own pace; a
slow subscriber never blocks the engine. ``drain()`` waits until all of them caught up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from typing import Any

from engine.event_redaction import clean_event
from engine.events import E, EventBase, utcnow
from engine.redaction import Redactor
from engine.state import RunState

_CLOSED = object()

_STAMPED_FIELDS = frozenset({"run_id", "seq", "ts"})
_set = object.__setattr__


def stamped(event: E, run_id: str, seq: int, ts: datetime) -> E:
    """A copy of ``event`` with the bus's stamp: ``event.model_copy(update=...)`` for these
    three fields, at half its cost.

    The bus stamps every event, and ``model_copy`` goes through ``copy.copy`` three times
    for the generality of models with extras and private attributes, which events do not
    have (``extra="forbid"``, no private fields). The copy is built the way pydantic builds
    one — a new instance with its own ``__dict__`` and fields-set — and a test checks it
    equals ``model_copy``'s for every event type, so a pydantic release that lays instances
    out differently fails there rather than here.
    """
    cls = type(event)
    copy = cls.__new__(cls)
    values = event.__dict__.copy()
    values["run_id"] = run_id
    values["seq"] = seq
    values["ts"] = ts
    _set(copy, "__dict__", values)
    _set(copy, "__pydantic_fields_set__", event.__pydantic_fields_set__ | _STAMPED_FIELDS)
    _set(copy, "__pydantic_extra__", None)
    _set(copy, "__pydantic_private__", None)
    return copy


class DurabilityLost(RuntimeError):
    """The durable subscriber (the storage writer) stopped: events are no longer stored."""


class Subscription:
    """One subscriber's view of the bus: an async iterator over events, in order.

    A deque and at most one waiting reader rather than an ``asyncio.Queue``: ``_put`` runs for
    every event and every subscriber on the engine's loop, and the queue's own bookkeeping
    (its unfinished-task count, its getter list) cost more than the rest of the delivery.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.durable = False
        self._items: deque[object] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.closed = False

    def _put(self, item: object) -> None:
        if self.closed:
            return
        if not self._pending:
            self._idle.clear()
        self._pending += 1
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

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
        items = self._items
        while not items:
            if self._waiter is not None:
                raise RuntimeError(f"subscription {self.name!r} already has a reader")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        batch: list[EventBase] = []
        while items and len(batch) < limit:
            if items[0] is _CLOSED:
                if not batch:
                    items.popleft()
                    self.task_done()
                    return None
                break  # the end stays queued: the next call returns None
            batch.append(items.popleft())  # type: ignore[arg-type]
        return batch

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

    @contextlib.contextmanager
    def reading(self) -> Iterator[Subscription]:
        """Read inside this block: if the reader fails or is cancelled, the subscription is
        closed on the way out, so :meth:`EventBus.close` does not wait forever for events
        that a reader which is gone will never mark handled."""
        try:
            yield self
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop receiving (a subscriber that quits early, e.g. the TUI): queued events are
        dropped, later ones are not delivered, and :meth:`EventBus.drain` stops waiting."""
        self.closed = True
        self._items.clear()
        self._items.append(_CLOSED)
        self._pending = 0
        self._idle.set()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class EventBus:
    """Stamps, folds and fans out the events of one run."""

    def __init__(
        self,
        run_id: str,
        state: RunState | None = None,
        *,
        redactor: Redactor | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``redactor`` defaults to one for this process's secret-looking variables.
        ``clock`` stamps the events, and is what the run's time budget reads (a test's can
        jump hours)."""
        self.run_id = run_id
        self.clock = clock
        self.redactor = redactor if redactor is not None else Redactor.from_environ()
        self._clean = partial(clean_event, self.redactor)
        self.state = state if state is not None else RunState()
        self._seq = self.state.last_seq
        self._subs: list[Subscription] = []
        self._listeners: list[Callable[[EventBase], None]] = []
        self.closed = False

    def add_secrets(self, values: Iterable[str]) -> None:
        """Clean every event emitted from now on of ``values`` too (the literal values of the
        repository's secret files, :mod:`engine.secret_values`: a gate's output or an agent's
        command quoting ``.env`` has no key shape to be told by)."""
        values = list(values)
        if values:
            self.redactor = self.redactor.extended(values)
            self._clean = partial(clean_event, self.redactor)

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
        """Stamp ``event``, clean it of secrets, apply it to the run state and deliver it.
        Returns the event as delivered."""
        if self.closed:
            raise RuntimeError("event bus is closed")
        self._seq += 1
        stamped_event = self._clean(stamped(event, self.run_id, self._seq, self.clock()))
        self._deliver(stamped_event)
        return stamped_event

    def emit_new(self, cls: type[E], /, **fields: Any) -> E:
        """``emit(cls(**fields))``, with the event built already stamped.

        What ``emit`` returns, without its copy: an event built and then stamped is two
        instances, and the engine's own frequent events (seven per task: its states, the
        merge queue's) come this way. A field that does not validate raises pydantic's
        ``ValidationError`` and nothing is emitted, as with building the event first.
        """
        if self.closed:
            raise RuntimeError("event bus is closed")
        seq = self._seq + 1
        # ``cls(**fields)`` validated the same dict through BaseModel.__init__, a Python frame
        # per event around the validator (as ``model_validate`` does, without its checks).
        fields.update(run_id=self.run_id, seq=seq, ts=self.clock())
        event: E = self._clean(cls.__pydantic_validator__.validate_python(fields))
        self._seq = seq
        self._deliver(event)
        return event

    def _deliver(self, event: EventBase) -> None:
        self.state.apply(event)
        for listener in self._listeners:
            listener(event)
        for sub in self._subs:
            sub._put(event)

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
