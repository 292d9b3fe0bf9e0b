"""A run whose database is away for longer than the writer rides out exits 75 (EX_TEMPFAIL),
and the same command, started again once the database is back, ships it.

Under systemd, exit 1 (what such a run said before) is "failed" and, rightly, not restarted:
the run waited for a person's ``systemctl start`` although nothing was wrong with it. Here a
real ``shopfloor run --resume-unfinished`` stores into PostgreSQL through a proxy the test
takes away (:class:`~pg_proxy.PgProxy`) once a task has merged, for longer than the
storage writer's retry window — its config file's ``[storage] outage_wait_s``, 2 s here
instead of the default :data:`storage.writer.OUTAGE_S` (30 s), which also shows the setting
reaches the writer process — then runs the very same command, as ``Restart=`` would.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pg_proxy import PgProxy

from engine.events import Merged
from storage.store import SqlEventStore
from storage.writer import OUTAGE_S
from tui.commands.exit_codes import EXIT_TRY_LATER
from tui.config import OUTAGE_ENV
from tui.demo_repo import prepare_demo_repo

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "inventory"
WINDOW_S = 2.0
"""The run's ``[storage] outage_wait_s``."""


def shopfloor(home: Path, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**environment(), "SHOPFLOOR_HOME": str(home), "SHOPFLOOR_DB": db, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )


def environment() -> dict[str, str]:
    """This process's environment without an outage window that would beat the file's."""
    return {k: v for k, v in os.environ.items() if k != OUTAGE_ENV}


async def first_merge(store: SqlEventStore, deadline: float) -> str:
    """The run's id, once its log holds a Merged event."""
    while time.monotonic() < deadline:
        runs = await store.list_runs()
        if runs and await store.read(runs[0].run_id, types=["Merged"]):
            return runs[0].run_id
        await asyncio.sleep(0.05)
    raise AssertionError("no task merged in time")


@pytest.mark.postgres
@pytest.mark.e2e
@pytest.mark.timeout(400)
async def test_a_run_cut_off_its_database_exits_75_and_the_same_command_ships_it(
    empty_pg_url: str, tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    home = tmp_path / "home"
    share_gate_cache(home)
    repo, _, playbook = prepare_demo_repo("inventory", tmp_path / "repo")
    config = tmp_path / "conf"
    config.mkdir()
    for name in ("shopfloor.toml", "owner.toml"):  # the twin's DNA stays out of the checkout
        shutil.copy(EXAMPLE / name, config / name)
    with (config / "shopfloor.toml").open("a", encoding="utf-8") as toml:
        toml.write(f"\n[storage]\noutage_wait_s = {WINDOW_S}\n")
    words = [
        "run",
        *("--request-file", str(EXAMPLE / "request.md"), "--repo", str(repo)),
        *("--playbook", str(playbook), "--config", str(config / "shopfloor.toml")),
        *("--speed", "50", "--headless", "--resume-unfinished"),
    ]
    proxy = await PgProxy(empty_pg_url).start()
    factory: asyncio.subprocess.Process | None = None
    try:
        factory = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tui.cli",
            *words,
            cwd=ROOT,
            env={**environment(), "SHOPFLOOR_HOME": str(home), "SHOPFLOOR_DB": proxy.url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        async with await SqlEventStore.open(empty_pg_url) as store:  # not through the proxy
            run_id = await first_merge(store, time.monotonic() + 120)
        await proxy.cut()
        cut_at = time.monotonic()
        _, err = await asyncio.wait_for(factory.communicate(), OUTAGE_S + 60)
        stopped_after = time.monotonic() - cut_at
        said = err.decode().strip().splitlines()
        assert factory.returncode == EXIT_TRY_LATER, said[-20:]
        assert stopped_after >= WINDOW_S  # the writer rode the outage out first
        assert stopped_after < OUTAGE_S / 2, stopped_after  # the run's window, not 30 s
        assert said[-1].startswith("shopfloor: the run"), said[-20:]
        assert "events could not be stored" in said[-1]
        assert said[-1].endswith(
            f"once the database takes writes, `shopfloor resume {run_id} --db {proxy.url}` "
            "carries it on"  # the database $SHOPFLOOR_DB named: a journal's reader has none
        )
        await proxy.restore()

        # In a thread: this loop serves the proxy the command goes through.
        again = await asyncio.to_thread(shopfloor, home, proxy.url, *words)
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
        assert f"run {run_id} resumed at stage " in again.stdout, again.stdout[:2000]
        listed = await asyncio.to_thread(shopfloor, home, proxy.url, "runs", "--json")
    finally:
        if factory is not None and factory.returncode is None:
            factory.kill()
            await factory.wait()
        await proxy.close()
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [run_id]  # no second run
    async with await SqlEventStore.open(empty_pg_url) as store:
        (record,) = await store.list_runs()
        merged = [e.task_id for e in await store.read(run_id) if isinstance(e, Merged)]
        seqs = [e.seq for e in await store.read(run_id)]
    assert record.outcome.value == "shipped"
    assert sorted(merged) == sorted(set(merged)) and len(merged) == record.tasks_total
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing stored twice
