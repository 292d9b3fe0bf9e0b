"""Which process drives a run: a lease held for as long as the run's process lives.

A run's log says what happened, not whether anyone is still making it happen: a run stopped
by Ctrl-C, SIGTERM or SIGKILL ends its log like a run in flight. So the process that drives a
run (``run``, ``demo``, ``resume``) holds a lease on it, and the operating system or the
database lets go of it when that process ends, however it ends:

- SQLite: an exclusive ``flock`` on ``<database file>.leases/<run id>``, whose text names the
  holder (pid, host, when). The kernel drops the lock with the process.
- PostgreSQL: a session advisory lock on a connection kept for the purpose, named in
  ``application_name``. The server drops it with the connection; another host sees it too.

With it, ``resume`` refuses a run another process still drives (two drivers would merge the
same tasks and collide on sequence numbers), and ``status``, ``runs`` and ``attach`` can tell
a run in flight from one whose process is gone (:func:`live_runs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.errors import (
    DB_ERRORS,
    RunInFlight,
    RunStopped,
    StorageError,
    failure,
    one_line,
)
from storage.lease_files import lease_folder, read_holder, take_file_past_probes, try_flock
from storage.paths import db_option

if TYPE_CHECKING:
    from storage.store import SqlEventStore

log = logging.getLogger(__name__)

_PG_NAMESPACE = 0x53484F50  # "SHOP": the first key of every run's advisory lock
_APP_PREFIX = "shopfloor run "
KEEPALIVE_S = 10.0
"""How often a PostgreSQL lease checks its connection, and takes the lock again if it fell."""
DEAD_PEER = {"tcp_keepalives_idle": 15, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 6}
"""The server-side TCP keepalive of a lease's session. A process killed with its host (a
crash, a power cut, a cable) closes no connection, and the server kept its lease until its
own keepalive gave up on the silent peer: two hours and more by default, every resume
meanwhile refused as "still running". With these it gives up within 45 seconds (a live
host's kernel answers the probes, however busy or stopped the process)."""
RETRY_S = 1.0
"""How often a PostgreSQL lease tries to take its lock again while the server cannot be
reached."""


def _pg_key(run_id: str) -> int:
    """The run's second lock key: a signed 32-bit number from its id."""
    digest = int.from_bytes(hashlib.blake2b(run_id.encode(), digest_size=4).digest(), "big")
    return digest - (1 << 32) if digest >= 1 << 31 else digest


# -- the lease -------------------------------------------------------------------------------


class RunTakenOver(RunStopped):
    """This process's lease on a run was lost with its connection, and another process took
    the run meanwhile: it drives the run now, so this one must stop. ``db`` is the run's
    database's ``--db`` (:func:`~storage.paths.db_option`), which the command named carries."""

    def __init__(self, run_id: str, holder: str, db: str = "") -> None:
        super().__init__(
            f"run {run_id} stopped here: its lease was lost with the database connection and "
            f"another process took the run over ({holder}); it goes on there "
            f"(`shopfloor attach {run_id}{db}` follows it)"
        )
        self.run_id = run_id
        self.holder = holder


@dataclass
class RunLease:
    """A held lease; :meth:`release` (or the process ending) lets it go."""

    run_id: str
    _fd: int | None = None
    _conn: AsyncConnection | None = None
    _store: SqlEventStore | None = None
    _keeper: asyncio.Task[None] | None = None
    _ended: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the lease's connection ends: the keeper takes the lock again at once."""
    _taken: asyncio.Future[RunTakenOver] | None = None

    @classmethod
    async def take(cls, store: SqlEventStore, run_id: str) -> RunLease:
        """Take the lease on ``run_id``; :class:`RunInFlight` if a live process holds it."""
        folder = lease_folder(store)
        if folder is not None:
            fd = await take_file_past_probes(folder, run_id, db_option(store.url))
            return cls(run_id, _fd=fd)
        lease = cls(run_id, _store=store)
        lease._taken = asyncio.get_running_loop().create_future()
        await lease._hold(await _take_advisory(store, run_id))
        lease._keeper = asyncio.create_task(lease._keep(), name=f"lease-{run_id}")
        return lease

    async def taken_over(self) -> RunTakenOver:
        """Returns only once another process took the run over — this lease's connection
        was lost and the lock was taken before this process could take it again — with the
        one-line error to stop on. A SQLite lease is never lost: this never returns."""
        if self._taken is None:
            await asyncio.Event().wait()
        assert self._taken is not None
        return await asyncio.shield(self._taken)

    async def release(self) -> None:
        """Let the lease go (idempotent)."""
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None
        if self._conn is not None:
            await _drop(self._conn)
            self._conn = None

    async def _hold(self, conn: AsyncConnection) -> None:
        """Keep ``conn`` as the lease's, waking the keeper the moment it ends."""
        self._ended.clear()
        self._conn = conn
        with contextlib.suppress(*DB_ERRORS, AttributeError):
            driver: Any = (await conn.get_raw_connection()).driver_connection  # asyncpg's
            driver.add_termination_listener(lambda _c: self._ended.set())

    async def _keep(self) -> None:
        """PostgreSQL: a dropped connection drops the lock; take it again on a new one.

        The connection's end wakes the keeper, which takes the lock again at once (and then
        every :data:`RETRY_S` while the server cannot be reached); a quiet death is found by
        a query every :data:`KEEPALIVE_S`. If another process took the lock in between, it
        drives the run now: :meth:`taken_over` says so and the keeper stops.
        """
        assert self._store is not None and self._taken is not None
        lost = False
        while True:
            if self._conn is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ended.wait(), KEEPALIVE_S)
                try:
                    await self._conn.execute(text("SELECT 1"))
                    continue
                except DB_ERRORS as exc:
                    log.warning(
                        "the lease on run %s was lost with its connection (%s); taking it again",
                        self.run_id,
                        one_line(exc),
                    )
                    lost = True
                    await _drop(self._conn)
                    self._conn = None
            try:
                await self._hold(await _take_advisory(self._store, self.run_id))
            except RunInFlight as exc:
                self._taken.set_result(RunTakenOver(self.run_id, exc.holder, exc.db))
                return
            except StorageError as exc:  # the server cannot be reached yet
                if not lost:
                    log.warning("run %s: %s; retrying", self.run_id, exc)
                lost = True
                await asyncio.sleep(RETRY_S)
                continue
            if lost:
                log.warning("the lease on run %s is held again", self.run_id)
                lost = False


async def _drop(conn: AsyncConnection) -> None:
    """Close the lease's connection for good: back in the pool it would keep the session's
    advisory lock (a pool resets transactions, not session locks); closed, the server drops
    the lock."""
    with contextlib.suppress(*DB_ERRORS):
        await conn.invalidate()
    with contextlib.suppress(*DB_ERRORS):
        await conn.close()


async def _take_advisory(store: SqlEventStore, run_id: str) -> AsyncConnection:
    try:
        conn = await store.engine.connect()
    except DB_ERRORS as exc:
        raise failure(f"cannot take the lease on run {run_id}: {one_line(exc)}", exc) from exc
    try:
        got = await conn.scalar(
            text("SELECT pg_try_advisory_lock(:ns, :key)"),
            {"ns": _PG_NAMESPACE, "key": _pg_key(run_id)},
        )
        if got:
            # 63 bytes at most; the server keeps when the connection started (backend_start)
            name = f"{_APP_PREFIX}{run_id} {os.getpid()}@{socket.gethostname()}"[:63]
            naming = text("SELECT set_config('application_name', :n, false)")
            await conn.execute(naming, {"n": name})
            for setting, value in DEAD_PEER.items():  # ignored over a Unix socket
                await conn.execute(
                    text("SELECT set_config(:s, :v, false)"), {"s": setting, "v": str(value)}
                )
            await conn.commit()
            return conn
        holders = await _pg_holders(conn)
    except BaseException as exc:
        # The lock may be granted already: a connection back in the pool would keep it (and
        # a cancelled task's, left to the garbage collector, for as long as it liked).
        await _drop(conn)
        if isinstance(exc, DB_ERRORS):
            raise failure(f"cannot take the lease on run {run_id}: {one_line(exc)}", exc) from exc
        raise
    with contextlib.suppress(*DB_ERRORS):
        await conn.close()
    raise RunInFlight(run_id, holders.get(run_id, "another process"), db_option(store.url))


async def _pg_holders(conn: AsyncConnection) -> dict[str, str]:
    """Every run leased on this server: run id -> the holder's description."""
    rows = await conn.execute(
        text(
            "SELECT a.application_name, a.backend_start FROM pg_locks l"
            " JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :ns"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"ns": _PG_NAMESPACE},
    )
    held: dict[str, str] = {}
    for name, started in rows:
        if not isinstance(name, str) or not name.startswith(_APP_PREFIX):
            continue
        run_id, _, who = name.removeprefix(_APP_PREFIX).partition(" ")
        pid, _, host = who.partition("@")
        holder = f"pid {pid} on {host}" if host else "another process"
        if isinstance(started, datetime):
            holder += f", since {started.astimezone(UTC):%Y-%m-%d %H:%M:%SZ}"
        held[run_id] = holder
    return held


async def live_runs(store: SqlEventStore, run_ids: list[str]) -> dict[str, str]:
    """Of ``run_ids``, those a live process drives now: run id -> who (pid, host, since)."""
    folder = lease_folder(store)
    if folder is None:
        try:
            async with store.engine.connect() as conn:
                held = await _pg_holders(conn)
        except DB_ERRORS as exc:
            raise failure(f"cannot read the runs' leases: {one_line(exc)}", exc) from exc
        return {run_id: held[run_id] for run_id in run_ids if run_id in held}
    live: dict[str, str] = {}
    for run_id in run_ids:
        path = folder / run_id
        try:  # a folder another user made (0700) cannot be looked into: say so, in one line
            if not path.exists():
                continue
        except OSError as exc:
            raise StorageError(
                f"cannot read the runs' leases in {folder}: {exc.strerror or exc}"
            ) from exc
        try:
            fd = try_flock(path, fcntl.LOCK_SH, create=False)
        except OSError:
            continue
        if fd is None:
            live[run_id] = read_holder(path)
        else:
            os.close(fd)
    return live
