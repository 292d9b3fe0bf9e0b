"""The run's storage wiring: its store and lease, the writer's notices, and the watch on both.

One process drives a run and nothing the engine does may outlive its record: the lease is
taken before a run starts, and :class:`StorageWatch` stops the run when the storage writer
fails or another process takes the run over. Kept out of tui/compose.py, which wires the
rest of a run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from engine.bus import EventBus
from engine.events import AgentOutput, Outcome, RunInterrupted
from engine.state import RunState
from storage.errors import (
    INBOX_TABLE,
    LOG_GONE_REMEDY,
    REBUILD_REMEDY,
    EventsNotStored,
    LogGone,
    ProjectionGone,
    RunStopped,
    StorageError,
    WritesRefused,
    lost_table_line,
    missing_table,
)
from storage.lease import RunLease
from storage.paths import db_option
from storage.store import SqlEventStore


async def open_and_lease(
    db_url: str, run_id: str, resumed: RunState | None
) -> tuple[SqlEventStore, RunLease]:
    """The store and the run's lease; for a resume, also sure that nothing was logged since
    its fold (the process that held the lease a moment ago may have written its last
    events). One process drives a run: a second ``resume`` of it is refused, not run twice."""
    return await lease_run(await SqlEventStore.open(db_url), run_id, resumed)


async def lease_run(
    store: SqlEventStore, run_id: str, resumed: RunState | None
) -> tuple[SqlEventStore, RunLease]:
    """:func:`open_and_lease` on a store already open: a resume's, which read the run's log
    on it. Nothing needs a fresh one: the lease is a file lock (SQLite) or an advisory lock
    on a connection of its own (PostgreSQL), and what was logged since the fold is counted
    here. ``store`` is closed when the lease cannot be had or the database refuses writes."""
    try:
        lease = await RunLease.take(store, run_id)
    except StorageError:
        await store.close()
        raise
    try:  # a database that refuses the run's events stops it before it does anything
        await store.check_writes()
    except StorageError as exc:
        await lease.release()
        await store.close()
        if isinstance(exc, WritesRefused):
            # A new run has nothing stored a resume could carry on from.
            raise refused_line(exc, run_id if resumed is not None else "", store.url) from exc
        raise
    if resumed is not None and await store.count_events(run_id) > resumed.last_seq:
        await lease.release()
        await store.close()
        raise StorageError(f"run {run_id} moved on while this resume started; resume it again")
    return store, lease


async def finish_and_let_go(watch: StorageWatch, lease: RunLease, store: SqlEventStore) -> None:
    """Wait for the writer's last batch, then let the run's lease and store go, whatever it
    raised (a refused last batch: the one line saying why the run stopped). Kept, the lease
    said "still running" to the resume that line names when it came from this process (a
    TUI left open, a test), and the store's connections stayed open."""
    try:
        await watch.finish()
    finally:
        await lease.release()
        await store.close()


def storage_notices(bus: EventBus) -> Callable[[str], None]:
    """What the storage writer says while it rides out a database that does not answer
    (retrying; recovered), as the run's notices: the headless console prints them at once,
    the TUI shows them, and the run's log keeps them once the database is back. Before, the
    console said nothing until the run stopped 30 s later."""

    def say(text: str) -> None:
        if not bus.closed:
            bus.emit_new(AgentOutput, agent_id="storage", kind="notice", text=text)

    return say


class StorageWatch:
    """Runs the factory while watching the storage writer and the run's lease.

    Nothing the engine does may outlive its record: if the writer fails while the run is
    going, the run is cancelled (it stays resumable from what was committed) and the failure
    is raised once, as one line. Nor may two processes drive one run: if the lease was lost
    and another process took the run over, the writer is stopped first (its events would
    take the sequence numbers the other process writes), the repository is left to that
    process, then the run is cancelled as by Ctrl-C, and that is raised as one line.
    """

    def __init__(
        self,
        writer_task: asyncio.Task[None],
        lease: RunLease | None = None,
        relinquish: Callable[[], object] | None = None,
        *,
        run_id: str = "",
        db_url: str = "",
        bus: EventBus | None = None,
    ) -> None:
        """``relinquish``: called on a takeover before the run is cancelled, so that its
        cancelled attempts leave the repository to the other process
        (:meth:`~engine.workspace.GitWorkspaces.relinquish`). ``run_id`` names the run in
        the line saying how to carry it on, ``db_url`` the database its commands name.
        ``bus``: the run's, which a stop on a person's word (the run cancelled with us) ends
        with a RunInterrupted."""
        self.writer_task = writer_task
        self.run_id = run_id
        self.db_url = db_url
        self.lease = lease
        self.relinquish = relinquish
        self.stopped_run = False
        self.bus = bus

    async def run(self, run: Callable[[], Awaitable[RunState]]) -> RunState:
        run_task = asyncio.ensure_future(run())
        lost = asyncio.ensure_future(self.lease.taken_over() if self.lease else asyncio.Future())
        try:
            await asyncio.wait(
                {run_task, self.writer_task, lost}, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:  # Ctrl-C, SIGTERM: the run stops with us, cleanly
            run_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run_task
            if self.bus is not None and self.bus.state.outcome is Outcome.RUNNING:
                # Said in the log, once its attempts let go: status tells it from a crash.
                self.bus.emit(RunInterrupted())
            raise
        finally:
            if not lost.done():
                lost.cancel()
        if run_task.done():
            return run_task.result()
        self.stopped_run = True
        if lost.done() and not lost.cancelled():
            self.writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.writer_task
            if self.relinquish is not None:
                self.relinquish()
            await _cancelled(run_task)
            raise lost.result()
        await _cancelled(run_task)
        problem = self.writer_task.exception() if not self.writer_task.cancelled() else None
        if isinstance(problem, WritesRefused):
            raise self._refused(problem) from problem
        raise EventsNotStored(
            f"the run stopped because its events could not be stored: {problem}{self._resume()}"
        )

    def _refused(self, problem: WritesRefused) -> RunStopped:
        return refused_line(problem, self.run_id, self.db_url)

    def _resume(self) -> str:
        # Overnight, the line is all a person finds: say which run, and that it is not lost.
        if not self.run_id:
            return ""
        db = db_option(self.db_url) if self.db_url else ""
        return (
            f"; once the database takes writes, `shopfloor resume {self.run_id}{db}` carries it on"
        )

    async def finish(self) -> None:
        """Wait for the writer's last batch; raises if it could not be stored."""
        if self.stopped_run:
            return
        try:
            await self.writer_task
        except WritesRefused as exc:
            raise self._refused(exc) from exc
        except StorageError as exc:
            raise EventsNotStored(
                f"the run's last events could not be stored: {exc}{self._resume()}"
            ) from exc


def refused_line(problem: WritesRefused, run_id: str, db_url: str = "") -> RunStopped:
    """A refusal waiting does not cure stops the run as failed (exit 1), not as an outage
    (75): restarted, the same command met the same refusal, all night under systemd.
    ``run_id`` names the run a resume carries on ("": nothing of the run is stored); the
    commands the line names carry ``--db`` for ``db_url`` (:func:`db_option`)."""
    db = db_option(db_url) if db_url else ""
    if isinstance(problem, LogGone):  # a resume on this database finds no log to go on
        said = (
            f"the run stopped because the database no longer holds its log, which waiting "
            f"will not change: {problem}; "
        )
        if not run_id:  # a new run: nothing of it was stored, nothing to import or resume
            return RunStopped(
                f"{said}nothing of this run was stored, so there is nothing to resume: once "
                f"the database is fixed (restored from a backup, or a new one given to "
                f"--db), start the run again"
            )
        return RunStopped(
            f"{said}{LOG_GONE_REMEDY}, then `shopfloor resume {run_id}{db}` on the restored "
            f"database (or with --db naming the new one) carries it on"
        )
    carry_on = f", then `shopfloor resume {run_id}{db}` carries the run on" if run_id else ""
    if isinstance(problem, ProjectionGone) and missing_table(problem) == INBOX_TABLE:
        return RunStopped(
            f"the run stopped because the database lost its decisions inbox, which waiting "
            f"will not change: {problem}; {lost_table_line(INBOX_TABLE, db)}{carry_on}"
        )
    if isinstance(problem, ProjectionGone):  # the log is whole: a rebuild is all it takes
        rebuild = REBUILD_REMEDY.replace("`shopfloor db rebuild`", f"`shopfloor db rebuild{db}`")
        return RunStopped(
            f"the run stopped because the database lost a table its log rebuilds, which "
            f"waiting will not change: {problem}; {rebuild}{carry_on}"
        )
    return RunStopped(
        f"the run stopped because the database refuses its events, which waiting will not "
        f"change: {problem}; fix the database (the role's privileges, its tables, a "
        f"trigger or constraint that rejects them, the file){carry_on}"
    )


async def _cancelled(task: asyncio.Future[RunState]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
