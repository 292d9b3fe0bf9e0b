"""``shopfloor attach RUN_ID``: the control room on a run another process is executing.

The run's engine may be a headless process on this host or another one sharing the
PostgreSQL database. The TUI tails the run's stored event log (the same bridge as in
process, fed by an async iterator instead of a bus subscription) and sends a human's
decisions back through storage's decisions inbox, where the run's engine takes them and
records ``EscalationResolved`` itself: the run's log keeps a single writer.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from engine.events import Outcome
from engine.state import RunState
from storage.errors import StorageError
from storage.lease import live_runs
from storage.paths import db_option
from tui.budget_flags import go_on_line, stopped_line
from tui.commands.common import open_store
from tui.commands.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, UsageError
from tui.commands.history import NO_DRIVER, STOPPED
from tui.commands.terminal import on_a_terminal
from tui.driver_watch import watch_driver
from tui.stored_feed import tail_store
from tui.widgets.run_header import reading_the_log

if TYPE_CHECKING:
    from storage.store import SqlEventStore


async def cmd_attach(args: argparse.Namespace, console: Console) -> int:
    from tui.app import ShopfloorApp
    from tui.decision_delivery import storage_decider

    async with await open_store(args) as store:
        run_id = await store.resolve_run_id(args.run_id)
        if not on_a_terminal():
            raise UsageError(
                f"attach draws the control room on a terminal, and this process has none "
                f"(stdin or stderr is not one: ssh without -t, a script); `shopfloor tail "
                f"{run_id}{db_option(store.url)}` prints the run's progress lines"
            )
        app = ShopfloorApp(
            tail_store(store, run_id),
            title=f"shopfloor · attached to {run_id}",
            run_task=lambda: watch_driver(app.main, store, run_id),
            on_decision=storage_decider(store)(run_id),
            store=store,
            waiting=reading_the_log(run_id),
        )
        await app.run_async()
        await print_closing(store, run_id, app.state, console)
    if app.return_code == EXIT_INTERRUPTED:  # Ctrl-C: left the view; the run goes on there
        return EXIT_INTERRUPTED
    return EXIT_OK if app.return_code in (None, 0) else EXIT_FAILED


async def print_closing(
    store: SqlEventStore, run_id: str, state: RunState, console: Console
) -> None:
    """How the run stands as the view closes: an unfinished run no process drives is
    stopped (as ``runs`` and ``status`` say), with the commands that go on from there."""
    outcome = state.outcome.value
    stopped = False
    if state.outcome is Outcome.RUNNING:
        try:
            stopped = run_id not in await live_runs(store, [run_id])
        except StorageError:
            stopped = False  # cannot tell: say what the log says
        outcome = STOPPED if stopped else outcome
    console.print(
        Text.assemble("run ", (run_id, "bold"), f": {outcome} (stage {state.stage.value})")
    )
    if stopped:
        try:
            line = await go_on_line(store, state, NO_DRIVER)
        except StorageError:
            # the inbox unread: what the log says
            line = stopped_line(state, NO_DRIVER, db=db_option(store.url))
        console.print(line, highlight=False, soft_wrap=True)
