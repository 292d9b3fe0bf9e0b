"""The whole demo, end to end, storing into PostgreSQL (required when CI=true)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from engine.events import Outcome, RunFinished
from engine.state import RunState
from storage.store import SqlEventStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
@pytest.mark.e2e
async def test_the_demo_ships_with_postgresql_as_its_database(
    empty_pg_url, tmp_path, share_gate_cache
):
    share_gate_cache(tmp_path / "home")
    env = {
        **os.environ,
        "SHOPFLOOR_DB": empty_pg_url,
        "SHOPFLOOR_HOME": str(tmp_path / "home"),
        "NO_COLOR": "1",
    }
    demo = ["demo", "--headless", "--speed", "50", "--out", str(tmp_path / "demo")]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tui.cli",
        *demo,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=150)
    assert proc.returncode == 0, out.decode()[-3000:]
    assert not (tmp_path / "home" / "shopfloor.db").exists()  # nothing went to SQLite

    async with await SqlEventStore.open(empty_pg_url) as store:
        [run] = await store.list_runs()
        events = await store.read(run.run_id)
        tasks = await store.tasks(run.run_id)
    assert run.outcome is Outcome.SHIPPED and run.simulated
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert isinstance(events[-1], RunFinished)
    assert run.last_seq == len(events)
    state = RunState.fold(events)
    assert state.outcome is Outcome.SHIPPED
    folded = {t.id: t.state.value for t in state.tasks.values()}
    assert {t.task_id: t.state for t in tasks} == folded
    assert run.tasks_merged == run.tasks_total == len(tasks) > 0
