"""The storage writer process: stores the events a run sends it on its stdin.

``python -m storage.process_writer PARENT_PID`` is started by the run
(:mod:`storage.run_writer`, which also says why storing runs in a process of its own). It
parses the events, stores them with :class:`~storage.writer.StorageWriter` — its group
commit, its retries — and acknowledges each commit. The frames the run sends are encoded here
too (:func:`encode_frame`), beside the code that reads them.

The protocol is lines of UTF-8 on the child's stdin and stdout:

- parent: the database URL on the first line (never in the child's arguments: a URL may
  hold a password, and any local user reads ``/proc/PID/cmdline``), the seconds the writer
  waits out a database it cannot reach (``outage_s``) on the second; then frames, each
  ``B <n> <bytes>`` and ``n`` lines of event JSON (JSON has no raw newlines), ``bytes`` long
  with their newlines, so the child reads a frame in one piece; EOF ends it;
- child: ``ready`` once the store is open, ``ok <n>`` for each commit of ``n`` events,
  ``notice <one line>`` when storing starts being retried and when it recovers (for the
  person watching: the child's log goes nowhere they look), and ``error <one line>`` then
  exit status 1 when a batch cannot be stored, or the store cannot be opened
  (``unreachable <one line>`` when that is because the database cannot be reached, which
  the parent raises as :class:`~storage.errors.DatabaseUnreachable`; ``refused <one line>``
  when the database refuses the batch for a reason waiting does not cure, raised as
  :class:`~storage.errors.WritesRefused`; ``gone <one line>`` when, besides, the run's log
  is no longer in it, raised as :class:`~storage.errors.LogGone`; ``rebuild <one line>``
  when a projection table is gone but the log is not, raised as
  :class:`~storage.errors.ProjectionGone`).

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
from collections.abc import Sequence
from pathlib import Path

from engine import loop as event_loop
from engine.event_codec import event_from_json
from engine.events import EventBase
from engine.heap import settle
from engine.interrupt import STOP_SIGNALS
from engine.secrets import hide_process_environment
from storage.connect import sqlite_file
from storage.errors import (
    DatabaseUnreachable,
    LogGone,
    ProjectionGone,
    StorageError,
    WritesRefused,
    one_line,
)
from storage.paths import parse_db_url
from storage.store import SqlEventStore
from storage.writer import DEFAULT_BATCH_LIMIT, StorageWriter, outage_seconds
from storage.writer_launch import LINE_LIMIT


class _Inbox:
    """The child's batch source for ``StorageWriter``: the events that arrived so far.

    A reader task parses frames from stdin as they come; ``get_batch`` takes everything that
    arrived (up to the limit), so a slow commit makes the next one bigger, not later.
    ``task_done`` acknowledges the commit to the parent.
    """

    def __init__(self) -> None:
        self.events: list[EventBase] = []
        self.bodies: list[str] = []
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
                events, bodies = self.events, self.bodies
                for body in lines[:-1]:
                    events.append(event_from_json(body))
                    bodies.append(body)
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
        # Sliced, not popped one by one: a batch is usually all that arrived.
        batch = self.events[:limit]
        self.batch_bodies = self.bodies[:limit]
        del self.events[:limit], self.bodies[:limit]
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
    """Appends through the store, keeping the parent's JSON as each stored body.

    On a SQLite file it also checks, after each commit, that the file's path still names
    the file it opened. In WAL mode SQLite goes on committing into a database file that was
    deleted or replaced under it, and nothing says so: a run whose file was deleted shipped
    with exit 0 and every event gone with the file.
    """

    def __init__(self, store: SqlEventStore, inbox: _Inbox) -> None:
        self.store = store
        self.inbox = inbox
        path = sqlite_file(parse_db_url(store.url)) if store.backend == "sqlite" else None
        self.path = path
        self.identity = _identity(path) if path is not None else None

    async def append(self, events: Sequence[EventBase]) -> None:
        await self.store.append(events, self.inbox.batch_bodies)
        if self.path is not None and _identity(self.path) != self.identity:
            raise LogGone(
                f"the database file {self.path} was deleted or replaced during the run: the "
                "run's events went into the file it opened, which no name reaches any more"
            )

    async def holds(self, events: Sequence[EventBase]) -> bool:
        return await self.store.holds(events, self.inbox.batch_bodies)


def _identity(path: Path) -> tuple[int, int] | None:
    """The device and inode ``path`` names, or None when it names nothing."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _reply_kind(exc: StorageError) -> str:
    """The first word of the reply that says why a batch could not be stored."""
    if isinstance(exc, LogGone):
        return "gone"
    if isinstance(exc, ProjectionGone):
        return "rebuild"
    return "refused" if isinstance(exc, WritesRefused) else "error"


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
    outage_s = outage_seconds((await reader.readline()).decode("utf-8", "replace").strip())
    if outage_s is None:
        _reply("error no outage window (a positive number of seconds) came on stdin")
        return 1
    try:
        store = await SqlEventStore.open(url)
    except StorageError as exc:
        _reply(f"{'unreachable' if isinstance(exc, DatabaseUnreachable) else 'error'} {exc}")
        return 1
    _reply("ready")
    inbox = _Inbox()
    reading = asyncio.create_task(inbox.read(reader))
    try:
        await StorageWriter(
            _AppendWithBodies(store, inbox), inbox, outage_s=outage_s, on_notice=_notice
        ).run()
        await reading
    except StorageError as exc:
        _reply(f"{_reply_kind(exc)} {one_line(exc)}")
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
    (the database URL on its first line, the outage window on its second, then the frames)."""
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
