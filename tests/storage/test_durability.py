"""Group commit with acknowledgement: what `bus.durable()` promised is really on disk,
even when the writer process is SIGKILLed, and concurrent writers never mix runs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from engine.bus import EventBus
from engine.events import AgentOutput, Outcome, RunFinished
from storage.store import SqlEventStore
from storage.writer import StorageWriter

WRITER = Path(__file__).with_name("writer_process.py")


class GatedStore:
    """Holds every append until the test opens the gate, then passes it to the real store."""

    def __init__(self, inner: SqlEventStore) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.appends = 0

    async def append(self, events):
        await self.gate.wait()
        await self.inner.append(events)
        self.appends += 1


async def test_durable_returns_only_after_the_writer_committed(store):
    bus = EventBus("r-ack")
    gated = GatedStore(store)
    writer = StorageWriter(gated, bus.subscribe("storage", durable=True))
    writing = asyncio.create_task(writer.run())
    slow_tui = bus.subscribe("tui")  # not durable: nobody drains it, durable() must not wait

    emitted = [bus.emit(AgentOutput(agent_id="a", text=f"line {i}")) for i in range(50)]
    waiting = asyncio.create_task(bus.durable())
    await asyncio.sleep(0.1)
    assert not waiting.done()  # nothing committed yet, so nothing acknowledged
    assert await store.count_events("r-ack") == 0

    gated.gate.set()
    await asyncio.wait_for(waiting, timeout=5)
    assert await store.read("r-ack") == emitted  # acknowledged means readable by anyone
    assert gated.appends == 1  # the 50 events went in one group commit

    later = bus.emit(AgentOutput(agent_id="a", text="after"))
    await asyncio.wait_for(bus.durable(), timeout=5)
    assert (await store.read("r-ack", after_seq=50)) == [later]
    slow_tui.close()
    await asyncio.wait_for(bus.close(), timeout=5)
    await asyncio.wait_for(writing, timeout=5)


def _start_writer(url: str, run_id: str, count: int, ack_every: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WRITER), url, run_id, str(count), str(ack_every)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_sigkill_mid_stream_keeps_every_acknowledged_event(backend_url):
    proc = _start_writer(backend_url, "r-killed", count=1_000_000, ack_every=7)
    acked: list[int] = []
    try:
        assert proc.stdout is not None
        while len(acked) < 40:
            line = await asyncio.to_thread(proc.stdout.readline)
            assert line, f"writer died early: {proc.stderr.read() if proc.stderr else ''}"
            acked.append(int(line.split()[1]))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close() if proc.stdout else None
        proc.stderr.close() if proc.stderr else None
    assert proc.returncode == -signal.SIGKILL

    async with await SqlEventStore.open(backend_url) as after:
        stored = await after.read("r-killed")  # every row parses: no torn event
        run = await after.get_run("r-killed")
    seqs = [e.seq for e in stored]
    assert seqs == list(range(1, len(stored) + 1))  # a prefix of the stream, no gap
    assert seqs[-1] >= acked[-1]  # everything acknowledged is there
    assert not any(isinstance(e, RunFinished) for e in stored)  # killed long before the end
    assert run is not None and run.last_seq == seqs[-1]  # projection committed with its batch
    assert run.outcome is Outcome.RUNNING
    texts = [e.text for e in stored[1:] if isinstance(e, AgentOutput)]
    assert texts == [f"r-killed line {i}" for i in range(1, len(stored))]


async def test_two_writer_processes_interleave_without_losing_or_mixing(backend_url):
    async with await SqlEventStore.open(backend_url):
        pass  # migrate once, so the two writers race on rows, not on creating tables
    count = 400
    procs = {run_id: _start_writer(backend_url, run_id, count, 25) for run_id in ("r-p1", "r-p2")}
    for run_id, proc in procs.items():
        out, err = await asyncio.to_thread(proc.communicate, timeout=60)
        assert proc.returncode == 0, f"{run_id}: {err}"
        assert out.splitlines()[-1] == "done"

    async with await SqlEventStore.open(backend_url) as after:
        for run_id in procs:
            stored = await after.read(run_id)
            assert [e.seq for e in stored] == list(range(1, count + 3))
            assert {e.run_id for e in stored} == {run_id}
            lines = [e.text for e in stored if isinstance(e, AgentOutput)]
            assert lines == [f"{run_id} line {i}" for i in range(1, count + 1)]
            run = await after.get_run(run_id)
            assert run is not None
            assert (run.outcome, run.last_seq) == (Outcome.SHIPPED, count + 2)
        assert await after.count_events() == 2 * (count + 2)
