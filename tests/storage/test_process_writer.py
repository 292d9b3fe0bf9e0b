"""The storage writer process: the same contract as the in-process writer, across a pipe.

Each test of the contract starts the real child (``python -m storage.process_writer``) on
SQLite and on PostgreSQL, feeds it from a real EventBus and reads back through the store. The
last tests feed the child's frame reader bytes directly: whole frames, a cut one, bad ones.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.bus import DurabilityLost, EventBus
from engine.event_codec import event_to_json
from engine.events import AgentOutput, Outcome
from storage.errors import DatabaseUnreachable, StorageError
from storage.process_writer import _Inbox, encode_frame
from storage.run_writer import ProcessStorageWriter, start_writer
from storage.store import SqlEventStore
from storage.writer import StorageWriter
from storage.writer_launch import WriterLaunch


async def test_events_are_stored_in_order_and_durable_means_committed(store, emit_little_run):
    bus = EventBus("r-proc")
    writer = await ProcessStorageWriter.start(store.url, bus.subscribe("storage", durable=True))
    writing = asyncio.create_task(writer.run())

    emitted = emit_little_run(bus)
    emitted += [bus.emit(AgentOutput(agent_id="eng-1", text=f"line {i}")) for i in range(1500)]
    await asyncio.wait_for(bus.durable(), 30)
    assert await store.count_events("r-proc") == len(emitted)  # durable: all committed
    emitted.append(bus.emit(AgentOutput(agent_id="eng-1", text="after durable")))
    await bus.close()
    await asyncio.wait_for(writing, 30)

    assert await store.read("r-proc") == emitted  # same events, same order, same JSON
    assert writer.events_written == writer.events_sent == len(emitted)
    assert 1 <= writer.batches < len(emitted)  # group commits
    run = await store.get_run("r-proc")
    assert run is not None and run.outcome is Outcome.SHIPPED  # projections too
    assert writer.process.returncode == 0


async def test_a_refused_batch_stops_the_writer_with_the_databases_words(store):
    bus = EventBus("r-refused")
    writer = await ProcessStorageWriter.start(store.url, bus.subscribe("storage", durable=True))
    first = bus.emit(AgentOutput(agent_id="eng-1", text="stored by someone else first"))
    await store.append([first])  # the child's insert of seq 1 will be a duplicate
    writing = asyncio.create_task(writer.run())

    with pytest.raises(StorageError, match="already stored") as info:
        await asyncio.wait_for(writing, 30)
    assert "\n" not in str(info.value)
    with pytest.raises(DurabilityLost):  # the engine learns at once; nothing waits forever
        await asyncio.wait_for(bus.durable(), 5)
    assert writer.process.returncode is not None


async def test_a_killed_writer_process_is_one_line_and_nothing_hangs(store):
    bus = EventBus("r-killed")
    writer = await ProcessStorageWriter.start(store.url, bus.subscribe("storage", durable=True))
    writing = asyncio.create_task(writer.run())
    bus.emit(AgentOutput(agent_id="eng-1", text="before"))
    await asyncio.wait_for(bus.durable(), 30)
    writer.process.send_signal(signal.SIGKILL)
    await writer.process.wait()
    bus.emit(AgentOutput(agent_id="eng-1", text="after the kill"))

    with pytest.raises(StorageError, match=r"writer process stopped \(exit status -9\)"):
        await asyncio.wait_for(writing, 30)
    with pytest.raises(DurabilityLost):
        await asyncio.wait_for(bus.durable(), 5)
    assert await store.count_events("r-killed") == 1


async def test_a_database_the_child_cannot_open_fails_the_start_in_one_line() -> None:
    bus = EventBus("r-none")
    closed_port = "postgresql+asyncpg://postgres@127.0.0.1:1/shopfloor"  # nothing listens
    with pytest.raises(StorageError) as info:
        await ProcessStorageWriter.start(closed_port, bus.subscribe("storage"))
    assert "cannot open database" in str(info.value) and "\n" not in str(info.value)
    assert "127.0.0.1:1" in str(info.value)
    # Nothing listens there yet: a run that got that far exits 75 (try again later), not 2.
    assert isinstance(info.value, DatabaseUnreachable)


async def test_an_in_memory_database_keeps_the_writer_in_process() -> None:
    store = await SqlEventStore.open("sqlite+aiosqlite://")
    try:
        writer = await start_writer(store, EventBus("r-mem").subscribe("storage"))
        assert isinstance(writer, StorageWriter)
    finally:
        await store.close()


async def test_a_writer_spawned_before_its_store_exists_opens_it_once_told(
    tmp_path: Path, emit_little_run
) -> None:
    """A run spawns its writer before its own set-up (the child imports meanwhile): the
    child touches no database until the URL of the migrated store comes down its pipe."""
    launch = await WriterLaunch.spawn()
    path = tmp_path / "made-after-the-spawn.db"
    await asyncio.sleep(0.2)
    assert not path.exists()
    store = await SqlEventStore.open(str(path))
    try:
        bus = EventBus("r-early")
        writer = await start_writer(store, bus.subscribe("storage", durable=True), launch)
        assert isinstance(writer, ProcessStorageWriter) and writer.process is launch.process
        writing = asyncio.create_task(writer.run())
        emitted = emit_little_run(bus)
        await bus.close()
        await asyncio.wait_for(writing, 30)
        await launch.discard()  # the writer's now: discarding it is a no-op
        assert writer.process.returncode == 0
        assert await store.read("r-early") == emitted
    finally:
        await store.close()


async def test_a_discarded_writer_process_is_gone() -> None:
    """A run whose set-up failed (a refused repository) leaves no writer process behind."""
    launch = await WriterLaunch.spawn()
    await launch.discard()
    await launch.discard()
    assert launch.process.returncode is not None and not _alive(launch.process.pid)
    with pytest.raises(RuntimeError, match="already opened or discarded"):
        await ProcessStorageWriter.launched(
            launch, "sqlite+aiosqlite:///unused.db", EventBus("r-gone").subscribe("s")
        )


async def test_an_in_memory_store_leaves_a_spawned_writer_process_unused() -> None:
    store = await SqlEventStore.open("sqlite+aiosqlite://")
    launch = await WriterLaunch.spawn()
    try:
        writer = await start_writer(store, EventBus("r-mem").subscribe("storage"), launch)
        assert isinstance(writer, StorageWriter)
    finally:
        await launch.discard()
        await store.close()
    assert launch.process.returncode is not None


def test_the_writer_process_dies_with_its_parent(tmp_path: Path) -> None:
    """A run SIGKILLed mid-write leaves no writer behind to commit after ``resume`` started.

    The end of its input would stop the child too, so the parent first hands the write end
    of the child's stdin to a sleeping grandchild: the input never ends, and only the
    parent-death signal can stop the writer.
    """
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    parent = textwrap.dedent(
        f"""
        import asyncio, subprocess
        from engine.bus import EventBus
        from storage.run_writer import ProcessStorageWriter
        from storage.store import SqlEventStore

        async def main():
            bus = EventBus("r-orphan")
            await (await SqlEventStore.open({url!r})).close()
            writer = await ProcessStorageWriter.start({url!r}, bus.subscribe("s"))
            fd = writer.process.stdin.transport.get_extra_info("pipe").fileno()
            holder = subprocess.Popen(["sleep", "600"], pass_fds=(fd,))
            print(writer.process.pid, holder.pid, flush=True)
            await asyncio.sleep(600)

        asyncio.run(main())
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    assert proc.stdout is not None
    child, holder = (int(pid) for pid in proc.stdout.readline().split())
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(child):
            time.sleep(0.02)
        assert not _alive(child)
        assert _alive(holder)  # the input stayed open: the parent's death stopped the writer
    finally:
        os.kill(holder, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"  # a zombie is dead, not yet reaped
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_sqlite_rows_written_by_the_child_keep_their_json(tmp_path: Path) -> None:
    """The child stores the parent's JSON as is (not a re-serialisation of its own parse)."""

    async def write() -> list[str]:
        store = await SqlEventStore.open(str(tmp_path / "db.sqlite"))
        bus = EventBus("r-json")
        writer = await ProcessStorageWriter.start(store.url, bus.subscribe("s", durable=True))
        writing = asyncio.create_task(writer.run())
        texts = ["plain", 'quotes " and \\ backslash', "unicode ✓ \u2028 separator", "x" * 70000]
        emitted = [bus.emit(AgentOutput(agent_id="eng", text=t)) for t in texts]
        await bus.close()
        await writing
        await store.close()
        return [event.model_dump_json() for event in emitted]

    expected = asyncio.run(write())
    with sqlite3.connect(tmp_path / "db.sqlite") as conn:
        bodies = [row[0] for row in conn.execute("SELECT body FROM events ORDER BY seq")]
    assert bodies == expected


# -- the child's reading of frames ------------------------------------------------------------


async def _read(data: bytes) -> _Inbox:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    inbox = _Inbox()
    await inbox.read(reader)
    return inbox


def _stamped_json(text: str, seq: int) -> bytes:
    event = AgentOutput(agent_id="eng", text=text)
    return event_to_json(event.model_copy(update={"run_id": "frames1", "seq": seq})).encode()


async def test_the_child_reads_each_frame_whole_and_keeps_each_body_as_sent() -> None:
    first, second, third = (_stamped_json(f"line {i} ✓", i) for i in (1, 2, 3))
    inbox = await _read(encode_frame([first, second]) + encode_frame([third]))
    assert [e.seq for e in inbox.events] == [1, 2, 3]
    assert list(inbox.bodies) == [first.decode(), second.decode(), third.decode()]
    assert inbox.ended


async def test_a_frame_cut_short_by_the_parents_death_is_dropped() -> None:
    whole = encode_frame([_stamped_json("kept", 1)])
    cut = encode_frame([_stamped_json("lost", 2)])[:-5]
    inbox = await _read(whole + cut)
    assert [e.seq for e in inbox.events] == [1]
    assert inbox.ended


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"B 1\n{}\n", "malformed frame from the run: b'B 1\\n'"),
        (b"X 1 3\n{}\n", "malformed frame"),
        (encode_frame([b"{}", b"{}"]).replace(b"B 2", b"B 3", 1), "3 events announced, 2 sent"),
    ],
)
async def test_a_malformed_frame_is_one_line(data: bytes, words: str) -> None:
    with pytest.raises(StorageError, match=re.escape(words)):
        await _read(data)


async def test_the_database_url_is_not_in_the_writer_processs_arguments(
    tmp_path: Path, emit_little_run
) -> None:
    """Any local user reads /proc/PID/cmdline: a PostgreSQL URL's password was there."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'pass-word-in-url.db'}"
    await (await SqlEventStore.open(url)).close()
    bus = EventBus("r-argv")
    writer = await ProcessStorageWriter.start(url, bus.subscribe("storage", durable=True))
    running = asyncio.create_task(writer.run())
    try:
        cmdline = await asyncio.to_thread(Path(f"/proc/{writer.process.pid}/cmdline").read_bytes)
        assert b"pass-word-in-url" not in cmdline
        assert cmdline.split(b"\0")[-2] == str(os.getpid()).encode()
        emitted = emit_little_run(bus)
        await bus.durable()
    finally:
        await bus.close()
        await running
    store = await SqlEventStore.open(url)
    try:
        assert await store.count_events("r-argv") == len(emitted)
    finally:
        await store.close()
