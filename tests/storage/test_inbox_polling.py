"""A run reads its decisions inbox only while an escalation waits for an answer.

Before, the engine polled the inbox for the whole run — a transaction every 0.2 s on SQLite
(about 2 s of CPU in a 90 s demo, most runs never asking anything) and a safety re-read every
2 s on PostgreSQL — though no decision can be posted while nothing is open. Now the broker
tells the stream when an escalation is open; while none is, the inbox is not read at all,
and a decision posted from another connection still reaches the waiting run promptly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from statement_counts import StatementCount

from engine.bus import EventBus
from engine.escalations import EscalationBroker
from engine.events import AgentOutput, RunStarted
from storage.store import SqlEventStore
from storage.writer import StorageWriter

RUN_ID = "r-quiet"
QUIET_S = 1.0
"""Longer than five SQLite polls (0.2 s) and half a PostgreSQL safety re-read (2 s)."""


@contextlib.asynccontextmanager
async def running(store: SqlEventStore) -> AsyncIterator[tuple[EventBus, EscalationBroker]]:
    """A run's bus stored by a writer, and its broker listening to ``store``'s inbox."""
    bus = EventBus(RUN_ID)
    writer = asyncio.create_task(StorageWriter(store, bus.subscribe("w", durable=True)).run())
    bus.emit(
        RunStarted(
            request="Build a greeting CLI",
            repo="/repos/greet",
            base_branch="main",
            base_commit="0" * 40,
            integration_branch=f"shopfloor/wip/{RUN_ID}",
        )
    )
    await bus.durable()
    broker = EscalationBroker(bus, decisions=store)
    broker.start()
    try:
        yield bus, broker
    finally:
        await broker.close()
        await bus.close()
        await writer


async def test_no_inbox_reads_while_nothing_is_asked(store: SqlEventStore) -> None:
    reads = StatementCount(store, "decisions")
    async with running(store):
        await asyncio.sleep(QUIET_S)
        assert reads.count == 0


async def test_a_decision_from_another_connection_reaches_the_waiting_run_promptly(
    store: SqlEventStore, backend_url: str
) -> None:
    reads = StatementCount(store, "decisions")
    async with running(store) as (bus, broker):
        asking = asyncio.create_task(broker.ask("twin", "Ship it?", ["accept", "reject"]))
        await asyncio.sleep(0)  # raised
        await bus.durable()
        assert [e.escalation_id for e in await store.open_escalations(RUN_ID)] == ["esc-1"]
        approver = await SqlEventStore.open(backend_url)  # another shell's `shopfloor approve`
        try:
            posted = time.monotonic()
            await approver.post_decision(RUN_ID, "esc-1", "accept", "human:bea")
            decision = await asyncio.wait_for(asking, timeout=5)
            latency = time.monotonic() - posted
        finally:
            await approver.close()
        assert (decision.decision, decision.decided_by) == ("accept", "human:bea")
        assert latency < 1.0
        assert reads.count > 0  # read while it waited
        await asyncio.sleep(0.5)  # the stream's last wake-up after the answer
        after = reads.count
        # The run works on and commits its log (on SQLite that wakes the stream as a posted
        # decision would): answered, the inbox is left alone all the same.
        bus.emit(AgentOutput(agent_id="engineer:core", text="shipping"))
        await bus.durable()
        await asyncio.sleep(QUIET_S)
        assert reads.count == after
