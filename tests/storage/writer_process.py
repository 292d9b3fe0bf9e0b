"""A run's writer in a process of its own, for durability and concurrency tests (and the
storage benchmark's second process).

    python writer_process.py URL RUN_ID COUNT [ACK_EVERY]

Emits RunStarted, COUNT AgentOutput events and RunFinished through an EventBus whose storage
writer group-commits them. Every ACK_EVERY events it awaits ``bus.durable()`` and prints
``ack <seq>``: a promise that events 1..seq are committed. Prints ``done`` at the end.
"""

from __future__ import annotations

import asyncio
import sys

from engine.bus import EventBus
from engine.events import AgentOutput, Outcome, RunFinished, RunStarted
from storage.store import SqlEventStore
from storage.writer import StorageWriter


async def main(url: str, run_id: str, count: int, ack_every: int) -> None:
    store = await SqlEventStore.open(url)
    bus = EventBus(run_id)
    writer = StorageWriter(store, bus.subscribe("storage", durable=True))
    writing = asyncio.create_task(writer.run())
    bus.emit(
        RunStarted(
            request=f"request of {run_id}",
            repo="/repos/concurrent",
            base_branch="main",
            base_commit="0" * 40,
            integration_branch=f"shopfloor/{run_id}",
        )
    )
    for i in range(1, count + 1):
        bus.emit(AgentOutput(agent_id=f"agent-{run_id}", text=f"{run_id} line {i}"))
        if i % ack_every == 0:
            await bus.durable()
            print(f"ack {bus.state.last_seq}", flush=True)
    bus.emit(RunFinished(outcome=Outcome.SHIPPED, reason="done"))
    await bus.close()
    await writing
    await store.close()
    print("done", flush=True)


if __name__ == "__main__":
    url_arg, run_arg, count_arg = sys.argv[1:4]
    every = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    asyncio.run(main(url_arg, run_arg, int(count_arg), every))
