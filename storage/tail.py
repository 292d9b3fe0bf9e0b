"""Following a run's log from another process, as the run's writer commits it.

``attach``, the approval commands and ``serve-metrics`` run in processes other than the
engine's, possibly on other hosts. They read what is already stored, then wait for more: on
PostgreSQL the append transaction NOTIFYs the run id and the tailer wakes at commit; on SQLite
the tailer polls by sequence number. The sequence number is the cursor either way, so nothing
is skipped or repeated whatever the wake-ups. Following ends after the run's RunFinished
(unless asked to keep going, for a run that may be resumed). A database that cannot be
reached (its connection killed, a restart, a failover) is waited for however long it takes:
a follower overnight must not end on an outage, nor sit still after it. A database that
answers but fails every read (a dropped table) is tried again for :data:`RECONNECT_S`, then
the tail raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from engine.events import EventBase, Outcome, RunFinished
from storage.errors import StorageError, lost_connection
from storage.notify import DEFAULT_POLL_S, EVENTS_CHANNEL, Wakeup
from storage.reconnect import Reconnecting

if TYPE_CHECKING:
    from storage.store import SqlEventStore

TAIL_PAGE = 1000
RECONNECT_S = 30.0
"""How long a tail keeps trying a database that answers but fails every read before it
raises (one it cannot reach is waited for without end)."""


async def tail_run(
    store: SqlEventStore,
    run_id: str,
    after_seq: int = 0,
    *,
    follow: bool = False,
    poll_s: float = DEFAULT_POLL_S,
    reconnect_s: float = RECONNECT_S,
) -> AsyncIterator[EventBase]:
    """Yield the events of ``run_id`` after ``after_seq``, in order, as they are committed.

    Stops after RunFinished unless ``follow``; a run already finished before ``after_seq``
    ends at once. A run not stored yet is waited for. Reads that fail are tried again with
    a growing pause: for as long as the database cannot be reached, else for
    ``reconnect_s``, after which the last StorageError is raised.
    """
    async with Wakeup(store.engine, EVENTS_CHANNEL, run_id, poll_s=poll_s) as wakeup:
        cursor = after_seq
        if not follow:
            run = await store.get_run(run_id)
            if run is not None and run.outcome is not Outcome.RUNNING and run.last_seq <= cursor:
                return
        retry = Reconnecting(f"following run {run_id}", give_up_s=reconnect_s)
        # A server restart or failover may take minutes; a view attached overnight waits it
        # out however long, and reads from its cursor on: nothing skipped, nothing twice.
        outage = Reconnecting(f"following run {run_id}")
        while True:
            try:
                page = await store.read(run_id, after_seq=cursor, limit=TAIL_PAGE)
            except StorageError as exc:
                await (outage if lost_connection(exc) else retry).failed(exc)
                continue
            retry.ok()
            outage.ok()
            for event in page:
                yield event
                cursor = event.seq
                if isinstance(event, RunFinished) and not follow:
                    return
            if len(page) < TAIL_PAGE:
                await wakeup.wait()
