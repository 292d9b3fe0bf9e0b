"""The run's end of the storage writer: the run's loop never does the database's work.

In-process, SQLAlchemy's and the driver's work for every batch runs on the run's event loop
and competes with the engine for the interpreter lock; a slow database stalls the engine and
the TUI with it. Here the loop's share is serialising each event once (the JSON the store
keeps anyway) and writing it to a pipe. A child process (:mod:`storage.process_writer`, which
also states the lines the two exchange) parses the events, stores them and updates the
projections with :class:`~storage.writer.StorageWriter` — its group commit, its retries — on
another core, and acknowledges each commit. The child is started ahead of the run
(:class:`~storage.writer_launch.WriterLaunch`); this module feeds it
(:class:`ProcessStorageWriter`) and picks the writer a run gets (:func:`start_writer`).

The contract is ``StorageWriter``'s: events are committed in order, and the subscription's
events are marked handled only when the child acknowledged their commit, so
``EventBus.durable()`` means what it did. Batches are pipelined: the parent sends the next
batch without waiting for the last one's acknowledgement (the pipe's buffer bounds how far
ahead it gets), and the child commits whatever has arrived in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from engine.bus import Subscription
from engine.event_codec import event_json_bytes
from engine.events import EventBase
from storage.connect import sqlite_file
from storage.errors import (
    DatabaseUnreachable,
    LogGone,
    ProjectionGone,
    StorageError,
    WritesRefused,
)
from storage.paths import parse_db_url
from storage.process_writer import encode_frame
from storage.store import SqlEventStore
from storage.writer import DEFAULT_BATCH_LIMIT, OUTAGE_S, StorageWriter
from storage.writer_launch import WriterLaunch

START_TIMEOUT_S = 60.0
"""How long the child may take to open the store before the run gives up on it."""
FRAMES_IN_FLIGHT = 2
"""Frames sent and not yet acknowledged, at most: one committing, one parsed and waiting."""
EXIT_TIMEOUT_S = 60.0
"""How long the child may take to store what it has after its input ended."""


class ProcessStorageWriter:
    """Drains a bus subscription into the store at a URL through a child process.

    Start with ``await ProcessStorageWriter.start(url, subscription)``. ``await run()``
    returns once the bus closed and every event is stored, or raises a one-line
    :class:`~storage.errors.StorageError` (the child could not store a batch, or died),
    having closed the subscription so the bus does not wait on it.
    """

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        subscription: Subscription,
        *,
        batch_limit: int = DEFAULT_BATCH_LIMIT,
        on_notice: Callable[[str], object] | None = None,
    ) -> None:
        """Wrap a started child; prefer :meth:`start`. ``on_notice`` gets the child's
        notices (storing is being retried; it recovered), one line each."""
        if process.stdin is None or process.stdout is None or process.stderr is None:
            raise ValueError("the writer process needs pipes for stdin, stdout and stderr")
        self.process = process
        self.subscription = subscription
        self.batch_limit = batch_limit
        self.on_notice = on_notice
        self.batches = 0
        """Transactions the child committed."""
        self.events_written = 0
        """Events the child stored."""
        self.events_sent = 0
        """Events sent to the child."""
        self._stdin = process.stdin
        self._stdout = process.stdout
        self._stderr_tail: deque[str] = deque(maxlen=20)
        self._stderr_task = asyncio.create_task(self._read_stderr(process.stderr))
        self._acks: asyncio.Task[None] | None = None
        self._in_flight: deque[int] = deque()  # events sent up to the end of each frame
        self._acked = asyncio.Event()

    @classmethod
    async def start(
        cls,
        url: str,
        subscription: Subscription,
        *,
        batch_limit: int = DEFAULT_BATCH_LIMIT,
        outage_s: float = OUTAGE_S,
        on_notice: Callable[[str], object] | None = None,
    ) -> ProcessStorageWriter:
        """Start the child on ``url`` (a migrated store) and wait until it has it open;
        ``outage_s``: how long it waits out a database it cannot reach."""
        launch = await WriterLaunch.spawn()
        try:
            return await cls.launched(
                launch,
                url,
                subscription,
                batch_limit=batch_limit,
                outage_s=outage_s,
                on_notice=on_notice,
            )
        finally:
            await launch.discard()

    @classmethod
    async def launched(
        cls,
        launch: WriterLaunch,
        url: str,
        subscription: Subscription,
        *,
        batch_limit: int = DEFAULT_BATCH_LIMIT,
        outage_s: float = OUTAGE_S,
        on_notice: Callable[[str], object] | None = None,
    ) -> ProcessStorageWriter:
        """The writer of ``subscription`` on ``url`` (a migrated store) in ``launch``'s
        child, once the child has it open; the child is the writer's from here on, whatever
        happens. RuntimeError when the launch was taken or discarded already."""
        writer = cls(launch.take(), subscription, batch_limit=batch_limit, on_notice=on_notice)
        # The URL goes down the pipe, not in the child's arguments: a PostgreSQL URL may hold
        # its password, and any local user reads a process's /proc/PID/cmdline.
        writer._stdin.write(url.encode() + b"\n" + repr(float(outage_s)).encode() + b"\n")
        try:
            reply = await asyncio.wait_for(writer._stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            reply = b""
        if reply != b"ready\n":
            await writer._stop(kill=True)
            raise writer._failure(reply)
        return writer

    async def run(self) -> None:
        """Send batches until the subscription ends, then wait until all are stored."""
        self._acks = asyncio.create_task(self._read_acks(), name="storage-acks")
        try:
            while True:
                await self._room_for_a_frame()
                batch = await self.subscription.get_batch(self.batch_limit)
                if batch is None:
                    break
                if self._acks.done():  # the child stopped before its input ended
                    await self._acks  # raises what it said, if it said anything
                    raise self._failure(b"")
                await self._send(batch)
            with contextlib.suppress(OSError, RuntimeError):
                self._stdin.close()
            await self._acks
            await self._stop(kill=False)
        except BaseException:
            self.subscription.close()  # the bus must not wait forever on a writer that stopped
            await self._stop(kill=True)
            raise

    async def _room_for_a_frame(self) -> None:
        """Wait while :data:`FRAMES_IN_FLIGHT` frames are unacknowledged.

        One frame is being committed while the next is parsed; what is emitted meanwhile
        waits in the subscription and goes as one bigger frame. Without this the writer
        sent a frame per wake-up (8 events each in the overhead benchmark), and the pipe
        writes cost more than the events.
        """
        while len(self._in_flight) >= FRAMES_IN_FLIGHT and not self._acks_ended():
            self._acked.clear()
            await self._acked.wait()

    def _acks_ended(self) -> bool:
        return self._acks is None or self._acks.done()

    async def _send(self, batch: Sequence[EventBase]) -> None:
        frame = encode_frame(list(map(event_json_bytes, batch)))
        self.events_sent += len(batch)
        self._in_flight.append(self.events_sent)
        try:
            self._stdin.write(frame)
            await self._stdin.drain()  # waits only while the pipe is full
        except (BrokenPipeError, ConnectionResetError):
            pass  # the child is gone; the acknowledgements (or its exit status) say why

    async def _read_acks(self) -> None:
        """Mark events handled as the child acknowledges their commit.

        On the child's error or death with events unacknowledged, the subscription is
        closed at once — ``run`` stops waiting for events and ``EventBus.durable()`` raises
        instead of waiting forever — and the failure is raised here.
        """
        try:
            await self._take_acks()
        finally:
            self._acked.set()  # wake a sender waiting for room: there will be no more acks

    async def _take_acks(self) -> None:
        while True:
            reply = await self._stdout.readline()
            if not reply and self.events_written == self.events_sent:
                return
            kind, _, count = reply.decode(errors="replace").strip().partition(" ")
            if kind == "notice":  # ``count`` is its text
                if self.on_notice is not None:
                    self.on_notice(count)
                continue
            if kind != "ok" or not count.isdigit():
                self.subscription.close()
                if not reply:
                    await self.process.wait()  # for its exit status in the message
                raise self._failure(reply)
            self.batches += 1
            self.events_written += int(count)
            while self._in_flight and self._in_flight[0] <= self.events_written:
                self._in_flight.popleft()
            self._acked.set()
            self.subscription.task_done(int(count))

    def _failure(self, reply: bytes) -> StorageError:
        text = reply.decode(errors="replace").strip()
        if text.startswith("error "):
            return StorageError(text.removeprefix("error "))
        if text.startswith("unreachable "):  # the child could not open the store: try later
            return DatabaseUnreachable(text.removeprefix("unreachable "))
        if text.startswith("refused "):  # waiting will not change it
            return WritesRefused(text.removeprefix("refused "))
        if text.startswith("gone "):  # nor will resuming from this database
            return LogGone(text.removeprefix("gone "))
        if text.startswith("rebuild "):  # a projection gone: its log rebuilds it
            return ProjectionGone(text.removeprefix("rebuild "))
        said = self._stderr_tail[-1] if self._stderr_tail else ""
        status = self.process.returncode
        why = f" (exit status {status})" if status is not None else ""
        detail = f": {said}" if said else (f": unexpected reply {text!r}" if text else "")
        return StorageError(f"the storage writer process stopped{why}{detail}")

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self._stderr_tail.append(line.decode(errors="replace").rstrip())

    async def _stop(self, *, kill: bool) -> None:
        """Wait for the child to exit (after its input ended), killing it if asked or late."""
        with contextlib.suppress(OSError, RuntimeError):
            self._stdin.close()
        if kill and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        try:
            await asyncio.wait_for(self.process.wait(), EXIT_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        if self._acks is not None:
            if not self._acks.done():
                self._acks.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._acks  # its error, if any, is what ``run`` raises (or was cut short)
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await self._stderr_task
        if not kill and self.process.returncode != 0:
            raise self._failure(b"")


class RunWriter(Protocol):
    """What a run needs of its storage writer: drain the subscription until the bus closes."""

    async def run(self) -> None: ...


async def start_writer(
    store: SqlEventStore,
    subscription: Subscription,
    launch: WriterLaunch | None = None,
    *,
    outage_s: float = OUTAGE_S,
    on_notice: Callable[[str], object] | None = None,
) -> RunWriter:
    """The storage writer of a run on ``store``.

    A writer process wherever another process can open the database (a SQLite file,
    PostgreSQL) — ``launch``'s when one was spawned ahead (:class:`WriterLaunch`) —; the
    in-process :class:`~storage.writer.StorageWriter` for an in-memory SQLite database,
    which only this process can see. ``outage_s``: how long it waits out a database it
    cannot reach before the run stops. ``on_notice`` is told, in one line, when storing
    starts being retried and when it recovers.
    """
    if store.backend == "sqlite" and sqlite_file(parse_db_url(store.url)) is None:
        return StorageWriter(store, subscription, outage_s=outage_s, on_notice=on_notice)
    if launch is not None:
        return await ProcessStorageWriter.launched(
            launch, store.url, subscription, outage_s=outage_s, on_notice=on_notice
        )
    return await ProcessStorageWriter.start(
        store.url, subscription, outage_s=outage_s, on_notice=on_notice
    )
