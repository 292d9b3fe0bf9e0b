"""Rebuilding the projections beside the live ones, so that a run keeps writing meanwhile.

``shopfloor db rebuild`` used to empty the projections and replay the whole log in one
transaction. On SQLite that transaction held the database's one write lock for the whole
replay (on PostgreSQL, a lock on the log): a live run's storage writer, or an ``approve``
from another shell, waited for all of it, or gave up after its busy timeout.

:func:`rebuild_aside` replays the log into scratch projection tables in a private in-memory
SQLite database instead, reading the live log a page at a time, each page in its own short
read. It remembers how far it replayed each run, and catches up with what the runs appended
meanwhile. Only the last step takes the write lock: in one transaction it catches up with
the last few events, then replaces the live projections with the scratch rows. The result
is exactly what a replay of the whole log at rest gives (:func:`storage.projector.rebuild`),
since it is the same :func:`~storage.projector.project` over the same events in the same
order per run, and readers see the old projections until that transaction commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from storage.projector import REBUILD_PAGE, parse_row, project
from storage.schema import PROJECTIONS, REMADE, events, metadata

CATCH_UP_PASSES = 3
"""Catch-up passes before the swap; each replays what runs appended during the last one."""
COPY_CHUNK = 1000
"""Rows per INSERT when the scratch projections replace the live ones."""


async def _rows(source: AsyncEngine | AsyncConnection, query: Any) -> Sequence[Row[Any]]:
    """A read on ``source``: on its own short connection for an engine (no lock held
    between pages), on the transaction for a connection."""
    rows: Sequence[Row[Any]]
    if isinstance(source, AsyncConnection):
        rows = (await source.execute(query)).all()
        return rows
    async with source.connect() as conn:
        rows = (await conn.execute(query)).all()
        return rows


async def _catch_up(
    source: AsyncEngine | AsyncConnection, aside: AsyncConnection, marks: dict[str, int]
) -> int:
    """Replay into ``aside`` every event of ``source`` past ``marks`` (run -> last sequence
    number replayed), moving the marks; returns how many events it replayed."""
    head = func.max(events.c.seq).label("head")
    heads = await _rows(source, select(events.c.run_id, head).group_by(events.c.run_id))
    replayed = 0
    for run, last in sorted((str(row.run_id), int(row.head)) for row in heads):
        after = marks.get(run, 0)
        while after < last:
            page = await _rows(
                source,
                select(events.c.seq, events.c.body)
                .where(events.c.run_id == run, events.c.seq > after, events.c.seq <= last)
                .order_by(events.c.seq)
                .limit(REBUILD_PAGE),
            )
            if not page:
                break
            await project(aside, [parse_row(run, row.seq, row.body) for row in page])
            after = page[-1].seq
            replayed += len(page)
        marks[run] = after
    return replayed


async def _swap(live: AsyncConnection, aside: AsyncConnection) -> None:
    """Replace the live projections with the scratch ones, on ``live``'s transaction."""
    for table in PROJECTIONS:
        rows = (await aside.execute(select(table))).mappings().all()
        for start in range(0, len(rows), COPY_CHUNK):
            await live.execute(insert(table), [dict(r) for r in rows[start : start + COPY_CHUNK]])


async def rebuild_aside(engine: AsyncEngine) -> int:
    """Recompute every projection of ``engine``'s database from its log without holding
    writers off for the replay; returns the runs replayed."""
    scratch = create_async_engine("sqlite+aiosqlite://", poolclass=StaticPool)
    try:
        async with scratch.begin() as aside:
            await aside.run_sync(metadata.create_all, tables=list(PROJECTIONS))
            marks: dict[str, int] = {}
            for _ in range(CATCH_UP_PASSES):
                if not await _catch_up(engine, aside, marks):
                    break
            async with engine.begin() as live:
                if live.dialect.name == "postgresql":
                    # Appends wait from here to the commit: none lands between the last
                    # catch-up and the swap (their rows would be overwritten).
                    await live.execute(text(f"LOCK TABLE {events.name} IN SHARE MODE"))
                # On SQLite the first write takes the database's write lock, before the
                # catch-up reads: nothing is appended between them either. A projection
                # table that was dropped is made again, empty, then filled like the others;
                # a dropped decisions inbox is made again, and stays empty (REMADE).
                await live.run_sync(metadata.create_all, tables=list(REMADE))
                for table in PROJECTIONS:
                    await live.execute(delete(table))
                await _catch_up(live, aside, marks)
                await _swap(live, aside)
            return len(marks)
    finally:
        await scratch.dispose()
