"""The storage writer in a process of its own: the run's loop never does the database's work.

In-process, SQLAlchemy's and the driver's work for every batch runs on the run's event loop
and competes with the engine for the interpreter lock; a slow database stalls the engine and
the TUI with it. Here the loop's share is serialising each event once (the JSON the store
keeps anyway) and writing it to a pipe. A child process parses the events, stores them and
updates the projections with :class:`~storage.writer.StorageWriter` — its group commit, its
retries — on another core, and acknowledges each commit.

The contract is ``StorageWriter``'s: events are committed in order, and the subscription's
events are marked handled only when the child acknowledged their commit, so
``EventBus.durable()`` means what it did. Batches are pipelined: the parent sends the next
batch without waiting for the last one's acknowledgement (the pipe's buffer bounds how far
ahead it gets), and the child commits whatever has arrived in one transaction.

The protocol is lines of UTF-8 on the child's stdin and stdout:

- parent: the database URL on the first line (never in the child's arguments: a URL may
  hold a password, and any local user reads ``/proc/PID/cmdline``); then frames, each
  ``B <n> <bytes>`` and ``n`` lines of event JSON (JSON has no raw newlines), ``bytes`` long
  with their newlines, so the child reads a frame in one piece; EOF ends it;
- child: ``ready`` once the store is open, ``ok <n>`` for each commit of ``n`` events,
  ``notice <one line>`` when storing starts being retried and when it recovers (for the
  person watching: the child's log goes nowhere they look), and ``error <one line>`` then
  exit status 1 when a batch cannot be stored.

The child ignores SIGINT, SIGTERM and SIGHUP (a terminal's Ctrl-C or hang-up and
``systemctl stop`` reach the whole process group; the parent decides when writing ends) and
dies with its parent through ``PR_SET_PDEATHSIG``, so after a crash no late commit can race
``shopfloor resume``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from engine import loop as event_loop
from engine.bus import Subscription
from engine.events import EventBase, event_from_json, event_json_bytes
from engine.heap import settle
from engine.interrupt import STOP_SIGNALS
from engine.secrets import hide_process_environment, is_secret_name
from storage.connect import sqlite_file
from storage.errors import StorageError, one_line
from storage.paths import parse_db_url
from storage.store import SqlEventStore
from storage.writer import DEFAULT_BATCH_LIMIT, StorageWriter

LINE_LIMIT = 256 * 1024 * 1024
"""Longest line either side reads: one event's JSON (a blueprint, a large agent output)."""
START_TIMEOUT_S = 60.0
"""How long the child may take to open the store before the run gives up on it."""
FRAMES_IN_FLIGHT = 2
"""Frames sent and not yet acknowledged, at most: one committing, one parsed and waiting."""
EXIT_TIMEOUT_S = 60.0
"""How long the child may take to store what it has after its input ended."""


# -- the parent's side -----------------------------------------------------------------------


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
        on_notice: Callable[[str], object] | None = None,
    ) -> ProcessStorageWriter:
        """Start the child on ``url`` (a migrated store) and wait until it has it open."""
        launch = await WriterLaunch.spawn()
        try:
            return await launch.open(
                url, subscription, batch_limit=batch_limit, on_notice=on_notice
            )
        finally:
            await launch.discard()

    @classmethod
    async def _open(
        cls,
        process: asyncio.subprocess.Process,
        url: str,
        subscription: Subscription,
        batch_limit: int,
        on_notice: Callable[[str], object] | None = None,
    ) -> ProcessStorageWriter:
        writer = cls(process, subscription, batch_limit=batch_limit, on_notice=on_notice)
        # The URL goes down the pipe, not in the child's arguments: a PostgreSQL URL may hold
        # its password, and any local user reads a process's /proc/PID/cmdline.
        writer._stdin.write(url.encode() + b"\n")
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


class WriterLaunch:
    """A writer process started before its run knows its store, to open it later.

    The child spends most of its start importing (Python, SQLAlchemy, the event models):
    600 ms of the 2-core machine's time to ``RunStarted``, waited for after the run's own
    set-up. Spawned first, it imports while the run routes its models, checks the repository
    and migrates the store; :meth:`open` then sends the URL of the migrated store and waits
    for ``ready``. Whoever spawns it calls :meth:`discard` in a ``finally``: a set-up that
    fails (a refused repository) leaves no child behind; once opened, the child is the
    writer's.
    """

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        """Wrap a started child; prefer :meth:`spawn`."""
        self.process = process
        self._taken = False

    @classmethod
    async def spawn(cls) -> WriterLaunch:
        """Start the child; it waits for the database URL on its stdin."""
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "storage.process_writer",
                str(os.getpid()),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=LINE_LIMIT,
                env=writer_environment(os.environ),
            )
        except OSError as exc:
            raise StorageError(f"cannot start the storage writer: {one_line(exc)}") from exc
        return cls(process)

    async def open(
        self,
        url: str,
        subscription: Subscription,
        *,
        batch_limit: int = DEFAULT_BATCH_LIMIT,
        on_notice: Callable[[str], object] | None = None,
    ) -> ProcessStorageWriter:
        """The writer of ``subscription`` on ``url`` (a migrated store), once the child has
        it open; the child is the writer's from here on, whatever happens."""
        if self._taken:
            raise RuntimeError("this writer process was already opened or discarded")
        self._taken = True
        return await ProcessStorageWriter._open(
            self.process, url, subscription, batch_limit, on_notice
        )

    async def discard(self) -> None:
        """Kill and reap the child unless :meth:`open` took it; idempotent."""
        if self._taken:
            return
        self._taken = True
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()


class RunWriter(Protocol):
    """What a run needs of its storage writer: drain the subscription until the bus closes."""

    async def run(self) -> None: ...


async def start_writer(
    store: SqlEventStore,
    subscription: Subscription,
    launch: WriterLaunch | None = None,
    *,
    on_notice: Callable[[str], object] | None = None,
) -> RunWriter:
    """The storage writer of a run on ``store``.

    A writer process wherever another process can open the database (a SQLite file,
    PostgreSQL) — ``launch``'s when one was spawned ahead (:class:`WriterLaunch`) —; the
    in-process :class:`~storage.writer.StorageWriter` for an in-memory SQLite database,
    which only this process can see. ``on_notice`` is told, in one line, when storing starts
    being retried and when it recovers.
    """
    if store.backend == "sqlite" and sqlite_file(parse_db_url(store.url)) is None:
        return StorageWriter(store, subscription, on_notice=on_notice)
    if launch is not None:
        return await launch.open(store.url, subscription, on_notice=on_notice)
    return await ProcessStorageWriter.start(store.url, subscription, on_notice=on_notice)


# -- the child's side ------------------------------------------------------------------------


class _Inbox:
    """The child's batch source for ``StorageWriter``: the events that arrived so far.

    A reader task parses frames from stdin as they come; ``get_batch`` takes everything that
    arrived (up to the limit), so a slow commit makes the next one bigger, not later.
    ``task_done`` acknowledges the commit to the parent.
    """

    def __init__(self) -> None:
        self.events: deque[EventBase] = deque()
        self.bodies: deque[str] = deque()
        self.ended = False
        self.batch_bodies: list[str] = []
        """The JSON of the batch last taken, as the parent sent it (it is stored as is)."""
        self._arrived = asyncio.Event()

    async def read(self, reader: asyncio.StreamReader) -> None:
        """Parse frames until EOF; a frame cut short by the parent's death is dropped.

        A frame is read in one piece (its header says how long it is) rather than line by
        line: each ``readline`` also shifts the rest of the stream's buffer down, and that
        cost was a tenth of the writer's work per event.
        """
        try:
            while header := await reader.readline():
                count, size = _frame_header(header)
                try:
                    frame = await reader.readexactly(size)
                except asyncio.IncompleteReadError:
                    break
                lines = frame.decode().split("\n")
                if len(lines) != count + 1 or lines[-1]:
                    raise StorageError(
                        f"malformed frame from the run: {count} events announced, "
                        f"{len(lines) - 1} sent"
                    )
                for body in lines[:-1]:
                    self.events.append(event_from_json(body))
                    self.bodies.append(body)
                self._arrived.set()
        finally:
            self.ended = True
            self._arrived.set()

    async def get_batch(self, limit: int = DEFAULT_BATCH_LIMIT) -> list[EventBase] | None:
        while not self.events:
            if self.ended:
                return None
            self._arrived.clear()
            await self._arrived.wait()
        count = min(limit, len(self.events))
        batch = [self.events.popleft() for _ in range(count)]
        self.batch_bodies = [self.bodies.popleft() for _ in range(count)]
        return batch

    def task_done(self, count: int = 1) -> None:
        _reply(f"ok {count}")


def encode_frame(bodies: Sequence[bytes]) -> bytes:
    """One frame of the protocol: ``B <events> <bytes>``, then each event's JSON on a line."""
    body = b"\n".join([*bodies, b""])  # the last line ends with a newline too
    return b"B %d %d\n%s" % (len(bodies), len(body), body)


def _frame_header(header: bytes) -> tuple[int, int]:
    """``B <events> <bytes>``: the frame's event count and length."""
    kind, *numbers = header.split()
    if kind != b"B" or len(numbers) != 2 or not all(n.isdigit() for n in numbers):
        raise StorageError(f"malformed frame from the run: {header[:80]!r}")
    return int(numbers[0]), int(numbers[1])


class _AppendWithBodies:
    """Appends through the store, keeping the parent's JSON as each stored body."""

    def __init__(self, store: SqlEventStore, inbox: _Inbox) -> None:
        self.store = store
        self.inbox = inbox

    async def append(self, events: Sequence[EventBase]) -> None:
        await self.store.append(events, self.inbox.batch_bodies)

    async def holds(self, events: Sequence[EventBase]) -> bool:
        return await self.store.holds(events, self.inbox.batch_bodies)


def writer_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The writer process's environment: ``environ`` without its secrets (the model
    providers' keys, a GitHub token), which it has no use for and which a command of the
    run could read while it starts (:func:`~engine.secrets.hide_process_environment`).
    PostgreSQL's own variables stay: the store may log in with ``PGPASSWORD``."""
    return {
        name: value
        for name, value in environ.items()
        if name.upper().startswith("PG") or not is_secret_name(name)
    }


def _reply(line: str) -> None:
    sys.stdout.buffer.write(f"{line}\n".encode())
    sys.stdout.buffer.flush()


def _notice(text: str) -> None:
    _reply(f"notice {' '.join(text.split())}")


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent exits; exit now if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


async def _serve() -> int:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    url = (await reader.readline()).decode("utf-8", "replace").strip()
    if not url:
        _reply("error no database URL came on stdin")
        return 1
    try:
        store = await SqlEventStore.open(url)
    except StorageError as exc:
        _reply(f"error {exc}")
        return 1
    _reply("ready")
    inbox = _Inbox()
    reading = asyncio.create_task(inbox.read(reader))
    try:
        await StorageWriter(_AppendWithBodies(store, inbox), inbox, on_notice=_notice).run()
        await reading
    except StorageError as exc:
        _reply(f"error {one_line(exc)}")
        return 1
    except ValueError as exc:  # an event that does not parse: a bug in the parent
        _reply(f"error the storage writer got an unreadable event: {one_line(exc)}")
        return 1
    finally:
        reading.cancel()
        await store.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m storage.process_writer PARENT_PID``: store what the parent sends on stdin
    (the database URL on its first line, then the frames)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m storage.process_writer PARENT_PID", file=sys.stderr)
        return 2
    hide_process_environment()  # an executed program starts dumpable again
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    _die_with_parent(int(args[0]))
    # Full collections walked the loaded modules (SQLAlchemy, the event models) over and
    # over: 340 ms of a 10,000-task run's storing, 45 ms with them frozen (engine.heap).
    settle()
    return event_loop.run(_serve())


if __name__ == "__main__":
    sys.exit(main())
