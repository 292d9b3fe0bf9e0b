"""``shopfloor tail RUN_ID``: a run's headless console lines, from another shell.

A run under systemd or in someone else's tmux prints its progress where nobody else can
read it; a teammate sharing the PostgreSQL database had ``attach`` (the full-screen TUI) or
``status`` again and again. ``tail`` prints the lines the run's own console printed, from its
stored log, then follows the new ones until the run ends, as ``tail -f`` follows a file: in a
pipe, a narrow SSH window, a CI log. It ends when the run ends, and says so when no process
drives the run any more (stopped or killed), with the commands that go on from there. It
reads and never writes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from rich.console import Console

from engine.events import Outcome
from storage.lease import live_runs
from storage.paths import db_option
from storage.store import SqlEventStore
from tui.budget_flags import go_on_line
from tui.commands.common import open_store
from tui.commands.exit_codes import EXIT_FAILED, EXIT_KILLED, EXIT_OK
from tui.commands.history import NO_DRIVER
from tui.headless import ConsoleReporter
from tui.stored_feed import tail_store

DRIVER_POLL_S = 2.0
"""How often a followed run is checked for a process that still drives it."""

EXIT_CODES = {
    Outcome.SHIPPED: EXIT_OK,
    Outcome.REPORTED: EXIT_OK,
    Outcome.FAILED: EXIT_FAILED,
    Outcome.KILLED: EXIT_KILLED,
}
"""``tail``'s exit code by how the run ended, as the run's own command exits."""


async def cmd_tail(args: argparse.Namespace, console: Console) -> int:
    reporter = ConsoleReporter(
        None,
        Console(file=console.file, highlight=False, markup=False),
        verbose=args.verbose,
        json_lines=args.log_format == "json",
        live=False,
    )
    async with await open_store(args) as store:
        reporter.db = db_option(store.url)  # the commands its lines name act on this one
        run_id = await store.resolve_run_id(args.run_id)
        seq = 0
        for event in await store.read(run_id):
            reporter.report(event)
            seq = event.seq
        if reporter.state.outcome is Outcome.RUNNING and not args.no_follow:
            await follow(store, run_id, reporter, seq)
        state = reporter.state
        if state.outcome is not Outcome.RUNNING:
            return EXIT_CODES[state.outcome]
        if args.no_follow or run_id in await live_runs(store, [run_id]):
            return EXIT_OK
        if not reporter.json_lines:
            line = await go_on_line(store, state, NO_DRIVER)
            console.print(f"run {run_id}: {line}", highlight=False, soft_wrap=True)
        return EXIT_FAILED


async def follow(
    store: SqlEventStore, run_id: str, reporter: ConsoleReporter, after_seq: int
) -> None:
    """Report the run's new events until its RunFinished, or until no process drives it
    (the events it logged before it went are reported first)."""
    seen = after_seq

    async def feed() -> None:
        nonlocal seen
        async for event in tail_store(store, run_id, after_seq):
            if event.seq <= seen:
                continue
            reporter.report(event)
            seen = event.seq

    feeding = asyncio.create_task(feed(), name=f"tail-{run_id}")
    try:
        while not feeding.done():
            done, _ = await asyncio.wait({feeding}, timeout=DRIVER_POLL_S)
            if done or run_id in await live_runs(store, [run_id]):
                continue
            # Gone (or finished: its lease goes with its process). What it logged last is
            # read once more, so a RunFinished that came with the lease's end is said.
            feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeding
            for event in await store.read(run_id, seen):
                reporter.report(event)
                seen = event.seq
            return
        await feeding
    finally:
        feeding.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeding
