"""A reader waiting on SQLite queries again only when another connection has committed.

SQLite has no LISTEN/NOTIFY, so a tail (``attach``, ``approve`` waiting to see its answer
taken) and a run waiting on its decisions inbox polled with a real query every interval:
20 reads a second for a tail, however long nothing happened. Now the wait looks at
``PRAGMA data_version`` on a connection of its own at each interval and reads again only
when it moved (or after the safety interval), and what another connection commits still
reaches the reader within an interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from statement_counts import StatementCount
from test_refused_writes_stop_the_run import delete_the_file

from engine.bus import EventBus
from engine.events import AgentOutput, EventBase, RunStarted
from storage.notify import Wakeup
from storage.sqlite_changes import SqliteChanges
from storage.store import SqlEventStore

QUIET_S = 1.0


async def test_a_tail_reads_the_log_again_only_when_another_connection_committed(
    db_url: str,
) -> None:
    bus = EventBus("r-idle")
    started = bus.emit(
        RunStarted(
            request="Build a greeting CLI",
            repo="/repos/greet",
            base_branch="main",
            base_commit="0" * 40,
            integration_branch="shopfloor/wip/r-idle",
        )
    )
    async with await SqlEventStore.open(db_url) as run, await SqlEventStore.open(db_url) as view:
        await run.append([started])
        seen: asyncio.Queue[EventBase] = asyncio.Queue()

        async def follow() -> None:
            stream = view.tail("r-idle", follow=True, poll_s=0.05)
            async with contextlib.aclosing(stream):
                async for ev in stream:
                    seen.put_nowait(ev)

        tailing = asyncio.create_task(follow())
        try:
            assert await asyncio.wait_for(seen.get(), timeout=5) == started
            reads = StatementCount(view, "FROM events")
            await asyncio.sleep(QUIET_S)
            assert reads.count == 0  # nothing committed: nothing read (20 reads before)
            line = bus.emit(AgentOutput(agent_id="engineer:core", text="tests first"))
            committed = time.monotonic()
            await run.append([line])
            assert await asyncio.wait_for(seen.get(), timeout=5) == line
            assert time.monotonic() - committed < 0.5
        finally:
            tailing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tailing


async def test_a_run_waiting_on_its_inbox_reads_it_again_only_after_a_commit(
    db_url: str,
) -> None:
    async with await SqlEventStore.open(db_url) as store:
        reads = StatementCount(store, "FROM decisions")
        stream = store.decisions("r-waits", poll_s=0.05)
        async with contextlib.aclosing(stream):
            waiting = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(0.3)  # its first read
            first = reads.count
            await asyncio.sleep(QUIET_S)
            assert reads.count == first  # nothing committed: nothing read (20 reads before)
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
        assert first > 0


async def test_the_wakeup_takes_no_pooled_connection_and_creates_no_file(tmp_path: Path) -> None:
    """Its connection came from the store's pool: the reader's next query opened a new one,
    and after the file was deleted under a run that new connection made an empty database
    at the path (or read a replacement with the old -wal beside it and checkpointed the
    run's log back into it): a resume found "no run" instead of "deleted or moved" (CI)."""
    db = tmp_path / "shop.db"
    async with await SqlEventStore.open(f"sqlite:///{db}") as store:
        pool = store.engine.sync_engine.pool
        async with Wakeup(store.engine, "events", "r-gone", poll_s=0.01, safety_s=60):
            assert pool.checkedout() == 0  # type: ignore[attr-defined]
        delete_the_file(db)
        changes = SqliteChanges(store.engine)
        await changes.open()
        try:
            assert await changes.seen()  # it cannot tell: the reader queries
        finally:
            await changes.close()
        assert not db.exists()
