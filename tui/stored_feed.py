"""Following a run's stored log: its events so far, then new ones as they are stored.

``shopfloor attach``, the runs screen's live run and ``shopfloor tail`` read a run another
process writes. Kept apart from the Textual bridge (:mod:`tui.bridge`), so that ``tail``, which
prints lines, does not load Textual to read them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Protocol

from engine.events import EventBase, RunFinished


class EventLog(Protocol):
    """What following a stored run needs from storage (``SqlEventStore`` has it)."""

    async def read(self, run_id: str, after_seq: int = 0) -> list[EventBase]: ...


POLL_S = 0.3
"""How often a stored log is read again when the store cannot push new events."""


async def tail_store(
    store: EventLog,
    run_id: str,
    after_seq: int = 0,
    *,
    poll_s: float = POLL_S,
    until_finished: bool = True,
) -> AsyncIterator[EventBase]:
    """The stored events of ``run_id`` after ``after_seq``, then new ones as they are stored.

    Uses the store's own ``tail(run_id, after_seq)`` when it has one (PostgreSQL pushes new
    events), else reads the log every ``poll_s`` seconds. Ends after the run's RunFinished
    when ``until_finished`` (nothing follows it), else never.
    """
    tail = getattr(store, "tail", None)
    if callable(tail):
        async for event in tail(run_id, after_seq):
            yield event
            if until_finished and isinstance(event, RunFinished):
                return
        return
    seq = after_seq
    while True:
        events = await store.read(run_id, seq)
        for event in events:
            yield event
            seq = event.seq
            if until_finished and isinstance(event, RunFinished):
                return
        if not events:
            await asyncio.sleep(poll_s)
