"""Whether a process drives the run a view follows from storage, watched through its lease.

A view that follows a run from the stored log (``shopfloor attach``, a live run opened from
the runs history) would otherwise sit still for ever over a run whose process was stopped or
killed, its header saying "running". The watcher says so once (a toast with the commands
that go on from there) and has the header say "stopped" for as long as that lasts; when a
process takes the run again, it says that too (the first toast stays its time). It also
says when the database stops answering (the view then waits for it, however long) and when
it answers again.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from textual.notifications import SeverityLevel

from engine.events import Outcome
from engine.state import RunState
from storage.errors import StorageError, lost_connection
from storage.lease import live_runs
from storage.paths import db_option
from storage.store import SqlEventStore
from tui.budget_flags import go_on_line, stopped_line

DRIVER_POLL_S = 3.0
"""How often a view checks that a process still drives the run."""


class FollowingView(Protocol):
    """What the watcher needs of the view: a toast, and the header's stopped state."""

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None: ...

    def show_stopped(self, stopped: bool) -> None: ...


async def go_on_in_a_shell(store: SqlEventStore, run_id: str) -> str:
    """Why the run stopped and the commands that go on from there, as ``status`` says it
    (the budgets it needs, or that a raise waits in its inbox), from the stored log: the
    view may still be reading it."""
    why = f"no process drives run {run_id} (stopped by a signal or a crash)"
    try:
        state = RunState.fold(await store.read(run_id))
        return await go_on_line(store, state, why)
    except StorageError:
        return stopped_line(RunState(run_id=run_id), why, db=db_option(store.url))


async def watch_driver(
    view: FollowingView, store: SqlEventStore, run_id: str, poll_s: float | None = None
) -> None:
    """Until the run finishes: say when no process drives it (it never started here, or it
    was stopped or killed while watched), and show it stopped while that lasts; every
    ``poll_s`` seconds (:data:`DRIVER_POLL_S` by default)."""
    poll_s = DRIVER_POLL_S if poll_s is None else poll_s
    said = False
    unreachable = False  # said that the database does not answer
    while True:
        try:
            record = await store.get_run(run_id)
            if record is None or record.outcome is not Outcome.RUNNING:
                view.show_stopped(False)
                return
            live = run_id in await live_runs(store, [run_id])
        except StorageError as exc:
            live = True  # cannot tell; the tail says what else is wrong with the database
            if lost_connection(exc) and not unreachable:
                # The feed waits for the database without end: say why the view stands still.
                view.notify(
                    f"the database does not answer ({exc}); this view carries on when it does",
                    title="database unreachable",
                    severity="warning",
                    timeout=60,
                    markup=False,
                )
                unreachable = True
            await asyncio.sleep(poll_s)
            continue
        if unreachable:
            view.notify("the database answers again", title="database", timeout=10, markup=False)
            unreachable = False
        view.show_stopped(not live)
        if live and said:
            # The toast that said it stopped stays up to a minute, its resume command with
            # it: a resume started beside the view (or taking the run a moment after the
            # view opened) left it saying so over a run at work, and over its end.
            view.notify(
                f"a process drives run {run_id} again",
                title="run resumed",
                timeout=10,
                markup=False,
            )
            said = False
        elif not live and not said:
            view.notify(
                await go_on_in_a_shell(store, run_id),
                title="run stopped",
                severity="warning",
                timeout=60,
                markup=False,
            )
            said = True
        await asyncio.sleep(poll_s)
