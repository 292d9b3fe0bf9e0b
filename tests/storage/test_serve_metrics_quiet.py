"""``shopfloor serve-metrics`` lists the runs again only when something was committed.

The endpoint runs for months under systemd. It listed the database's runs (up to ``--runs``,
1000 by default) every ``--poll`` seconds however quiet the database was: with a thousand
runs stored, 1-2% of a core for ever. Now it is woken as a tail is (NOTIFY on PostgreSQL,
``PRAGMA data_version`` on SQLite); while nothing is committed it only checks that the
unfinished runs' processes live (a killed process commits nothing). Both backends, real.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from rich.console import Console
from statement_counts import StatementCount

from engine.bus import EventBus
from engine.events import AgentOutput, RunStarted
from storage.lease import RunLease
from storage.store import SqlEventStore
from telemetry.metrics import FactoryMetrics
from tui.commands.metrics import RecordedRuns, follow, listening_for_runs

POLL_S = 0.1
QUIET_S = 1.0


async def until(check: Any) -> float:
    """Seconds until ``check()`` holds (polled every 10 ms; at most 5 s)."""
    begun = time.monotonic()
    while not check():
        assert time.monotonic() - begun < 5.0, "never happened"
        await asyncio.sleep(0.01)
    return time.monotonic() - begun


async def test_serve_metrics_reads_a_quiet_database_only_for_its_drivers(backend_url: str):
    bus = EventBus("r-quiet")
    async with (
        await SqlEventStore.open(backend_url) as run,
        await SqlEventStore.open(backend_url) as endpoint,
    ):
        started = RunStarted(
            request="Build a greeting CLI",
            repo="/repos/greet",
            base_branch="main",
            base_commit="0" * 40,
            integration_branch="shopfloor/integration",
        )
        await run.append([bus.emit(started)])
        lease = await RunLease.take(run, "r-quiet")
        metrics = FactoryMetrics()
        runs = RecordedRuns(endpoint, metrics, limit=1000)

        def active() -> float | None:
            return metrics.registry.get_sample_value("shopfloor_runs_active")

        async with listening_for_runs(endpoint, POLL_S) as wakeup:
            await runs.catch_up()
            assert active() == 1
            following = asyncio.create_task(follow(runs, wakeup, POLL_S, Console(quiet=True)))
            try:
                await asyncio.sleep(0.3)
                listed = StatementCount(endpoint, "FROM runs")
                await asyncio.sleep(QUIET_S)
                assert listed.count == 0  # nothing committed: runs not listed (10 before)

                line = bus.emit(AgentOutput(agent_id="engineer:core", text="tests first"))
                await run.append([line])
                # Within the bound it polled in before (POLL_S), and the time to fold it.
                assert await until(lambda: runs.seen.get("r-quiet") == line.seq) < 0.5

                await lease.release()  # as a killed process does: nothing committed
                assert await until(lambda: active() == 0) < 0.5
            finally:
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await following
