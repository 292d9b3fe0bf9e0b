"""A factory SIGKILLed during a PostgreSQL outage resumes to shipped, merging no task twice.

While the database is away for less than the writer's window of retries (set to 120 s here,
``$SHOPFLOOR_OUTAGE_WAIT_S``, so that it outlasts the test's wait), the engine goes on:
tasks merge onto the integration branch while their Merged events wait in the writer
process's retry. Killed then, the factory and its writer take those events with them; the
branch holds merges the log never heard of. Here a real demo stores into PostgreSQL through
a proxy that the test takes away (:class:`~pg_proxy.PgProxy`), is SIGKILLed once the branch
is ahead of the log, and ``resume`` runs after the database is back.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pg_proxy import PgProxy

from engine.build import TASK_TRAILER
from engine.events import Merged, RunStarted
from storage.store import SqlEventStore

ROOT = Path(__file__).resolve().parents[2]
OUTAGE_S = 25.0
"""How long the test waits, database away, for a merge the log lacks: under the writer's."""
WINDOW_S = "120"
"""The factory's storage writer's outage window: the factory must outlive the test's wait."""


def shopfloor(home: Path, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "SHOPFLOOR_DB": db, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )


def task_commits(repo: Path, base: str, ref: str) -> list[str]:
    """The ``Shopfloor-Task`` trailer of each commit from ``base`` to ``ref``, oldest first
    ("" for a commit without one)."""
    log = subprocess.run(
        [
            "git",
            "log",
            "--reverse",
            f"--format=%x1e%(trailers:key={TASK_TRAILER},valueonly,separator=%x2C)",
            f"{base}..{ref}",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [commit.strip() for commit in log.split("\x1e")[1:]]


async def merged_in_log(store: SqlEventStore, run_id: str) -> list[str]:
    return [e.task_id for e in await store.read(run_id, types=["Merged"]) if isinstance(e, Merged)]


async def first_merge_stored(store: SqlEventStore, deadline: float) -> RunStarted:
    """The run's RunStarted, once the log holds its first Merged."""
    while time.monotonic() < deadline:
        runs = await store.list_runs()
        if runs and await merged_in_log(store, runs[0].run_id):
            (started,) = await store.read(runs[0].run_id, types=["RunStarted"])
            assert isinstance(started, RunStarted)
            return started
        await asyncio.sleep(0.05)
    raise AssertionError("no task merged in time")


@pytest.mark.postgres
@pytest.mark.e2e
async def test_a_factory_killed_during_a_storage_outage_resumes_merging_each_task_once(
    empty_pg_url, tmp_path, share_gate_cache
):
    home, repo = tmp_path / "home", tmp_path / "demo"
    share_gate_cache(home)
    proxy = await PgProxy(empty_pg_url).start()
    factory: asyncio.subprocess.Process | None = None
    try:
        with (tmp_path / "factory.out").open("wb") as out:
            factory = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tui.cli",
                *("demo", "--headless", "--speed", "50", "--out", str(repo)),
                cwd=ROOT,
                env={
                    **os.environ,
                    "SHOPFLOOR_HOME": str(home),
                    "SHOPFLOOR_DB": proxy.url,
                    "SHOPFLOOR_OUTAGE_WAIT_S": WINDOW_S,
                },
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        async with await SqlEventStore.open(empty_pg_url) as store:  # not through the proxy
            started = await first_merge_stored(store, time.monotonic() + 120)
            run_id, base, integration = (
                started.run_id,
                started.base_commit,
                started.integration_branch,
            )
            await proxy.cut()
            logged = await merged_in_log(store, run_id)
            cut_at = time.monotonic()
            while time.monotonic() - cut_at < OUTAGE_S and factory.returncode is None:
                if len(task_commits(repo, base, integration)) > len(logged):
                    break
                await asyncio.sleep(0.05)
            ahead = task_commits(repo, base, integration)
            assert factory.returncode is None, (tmp_path / "factory.out").read_text()[-2000:]
            assert len(ahead) > len(logged), "the engine merged nothing while storage was away"
            factory.kill()
            await factory.wait()
            assert await merged_in_log(store, run_id) == logged  # the merges died unlogged
        await proxy.restore()

        # In a thread: this loop serves the proxy the commands go through.
        resumed = await asyncio.to_thread(
            shopfloor, home, proxy.url, "resume", run_id, "--headless"
        )
        assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
        listed = await asyncio.to_thread(shopfloor, home, proxy.url, "status", run_id, "--json")
        status = json.loads(listed.stdout)
    finally:
        if factory is not None and factory.returncode is None:
            factory.kill()
            await factory.wait()
        await proxy.close()
    assert status["outcome"] == "shipped", status["reason"]
    tasks = sorted(t["id"] for t in status["tasks"])
    assert sorted(status["merged"]) == tasks  # each task merged exactly once, in the log
    shipped = task_commits(repo, base, status["branch"])
    assert sorted(shipped) == tasks  # one commit per task on the shipped branch
    assert shipped[: len(ahead)] == ahead  # the merges made during the outage, kept as made
