"""``shopfloor serve-metrics``: Prometheus metrics of every run recorded in a database.

``--metrics-port`` serves one run's metrics for the life of its process; a team running
factories overnight wants one long-lived endpoint instead. This command folds the events of
the runs recorded in a database (SQLite or a shared PostgreSQL) into the same series a live
run exposes, then folds each run's new events as they are committed (woken as a tail is:
LISTEN/NOTIFY on PostgreSQL, ``PRAGMA data_version`` on SQLite), so the endpoint follows runs
of other processes and hosts, and outlives a database that stops answering for a while. It
serves until a stop signal (SIGTERM, Ctrl-C, a hang-up), says it stopped, and exits 130 as a
stopped run does.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import AsyncIterator

from rich.console import Console

from engine.events import Outcome
from engine.interrupt import EXIT_INTERRUPTED, run_interruptible
from storage.errors import DB_ERRORS, StorageError, failure, one_line
from storage.lease import live_runs
from storage.notify import EVENTS_CHANNEL, Wakeup
from storage.store import SqlEventStore
from telemetry.metrics import FactoryMetrics
from telemetry.session import MetricsServer, TelemetryError
from tui.commands.common import open_store
from tui.commands.exit_codes import UsageError


class RecordedRuns:
    """Folds the events of recorded runs into metrics, each event exactly once."""

    def __init__(self, store: SqlEventStore, metrics: FactoryMetrics, limit: int) -> None:
        self.store = store
        self.metrics = metrics
        self.limit = limit
        self.seen: dict[str, int] = {}
        """Run id -> the last sequence number folded."""
        self.unfinished: list[str] = []
        """The runs whose log has no ending yet, as the last :meth:`catch_up` listed them."""

    async def catch_up(self) -> int:
        """Fold every event committed since the last call; returns how many."""
        folded = 0
        records = await self.store.list_runs(limit=self.limit)
        for record in reversed(records):  # oldest first: "latest" gauges end on the newest
            after = self.seen.get(record.run_id, 0)
            if record.last_seq <= after:
                continue
            events = await self.store.read(record.run_id, after_seq=after)
            self.metrics.observe_all(events)
            if events:
                self.seen[record.run_id] = events[-1].seq
                folded += len(events)
        # The log cannot say a run's process died (SIGKILL writes nothing): a run is under
        # way while a live process holds its lease, not while its log lacks an ending.
        self.unfinished = [r.run_id for r in records if r.outcome is Outcome.RUNNING]
        await self.check_drivers()
        return folded

    async def check_drivers(self) -> None:
        """Which unfinished runs a live process drives: nothing is committed when one dies."""
        unfinished = self.unfinished
        live = await live_runs(self.store, unfinished) if unfinished else {}
        self.metrics.runs_active.set(len(live))
        for run_id in unfinished:  # a stopped run's stage and tasks do not look under way
            self.metrics.set_stopped(run_id, run_id not in live)


RESCAN_S = 30.0
"""How often the runs are listed again though nothing was said to have been committed: a
PostgreSQL listening connection can drop without a word."""


async def follow(runs: RecordedRuns, wakeup: Wakeup, poll_s: float, console: Console) -> None:
    """Fold new events as they are committed, for ever.

    ``wakeup`` wakes on any run's commit (``Wakeup(..., key=None)``, listening since before
    the first fold): at once on PostgreSQL, within ``poll_s`` seconds on SQLite, as the
    endpoint polled before. While nothing is committed only the unfinished runs' drivers are
    checked every ``poll_s`` seconds, and the runs are listed again every :data:`RESCAN_S`:
    listing a thousand runs every 2 s, however quiet, took 1-2% of a core for ever.
    A database that stops answering (a restart, a failover) is said once, the endpoint keeps
    serving the values it has, and folding resumes where it stopped when the database is
    back: an overnight endpoint does not end on a hiccup.
    """
    failing = False
    listed = time.monotonic()
    while True:
        news = await wakeup.wait()
        try:
            if news or failing or time.monotonic() - listed >= RESCAN_S:
                listed = time.monotonic()
                await runs.catch_up()
            else:
                await runs.check_drivers()
        except StorageError as exc:
            if not failing:
                failing = True
                console.print(
                    f"{exc}; still serving the last values, trying again every {poll_s:g}s",
                    highlight=False,
                    soft_wrap=True,
                )
            continue
        if failing:
            failing = False
            console.print("the database answers again", highlight=False)


@contextlib.asynccontextmanager
async def listening_for_runs(store: SqlEventStore, poll_s: float) -> AsyncIterator[Wakeup]:
    """A :class:`Wakeup` for every run's commits, listening (enter it before the first fold,
    so that nothing committed meanwhile waits for the next rescan)."""
    async with contextlib.AsyncExitStack() as stack:
        wakeup = Wakeup(store.engine, EVENTS_CHANNEL, None, poll_s=poll_s, safety_s=poll_s)
        try:
            await stack.enter_async_context(wakeup)
        except DB_ERRORS as exc:
            raise failure(f"cannot listen for new events: {one_line(exc)}", exc) from exc
        yield wakeup


async def cmd_serve_metrics(args: argparse.Namespace, console: Console) -> int:
    if args.runs < 1:
        raise UsageError(f"--runs must be at least 1, got {args.runs}")
    served: list[str] = []

    async def serve() -> None:
        # Started before the first run (a unit at boot): an empty database to serve from.
        async with await open_store(args, create=True) as store:
            metrics = FactoryMetrics()
            runs = RecordedRuns(store, metrics, args.runs)
            async with listening_for_runs(store, args.poll) as wakeup:
                folded = await runs.catch_up()
                try:
                    server = MetricsServer(metrics, args.host, args.port)
                except TelemetryError as exc:
                    raise UsageError(str(exc)) from exc
                try:
                    served.append(server.url)
                    console.print(
                        f"serving metrics of {len(runs.seen)} run(s) ({folded} events) "
                        f"at {server.url}",
                        highlight=False,
                        soft_wrap=True,
                    )
                    await follow(runs, wakeup, args.poll, console)
                finally:
                    server.close()

    # SIGTERM (``systemctl stop``), Ctrl-C or a hang-up: said, as a run's stop is, and the
    # same exit code; a second signal exits at once. From the start: opening the database
    # and folding its runs may take a while, and a signal meanwhile killed it with no line.
    await run_interruptible(serve)
    where = f"at {served[0]}" if served else "before it served any"
    console.print(f"stopped serving metrics {where}", highlight=False, soft_wrap=True)
    return EXIT_INTERRUPTED
