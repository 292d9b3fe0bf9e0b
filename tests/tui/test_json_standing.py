"""``runs --json`` and ``status --json`` say a run's standing as the tables do.

A stopped run (unfinished, no process drives it) was ``"outcome": "running"`` with
``"live": false``: a script had to combine the two to find what the table calls "stopped".
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from test_plan_view import RUN_ID, started

from engine.bus import EventBus
from storage.lease import RunLease
from storage.store import SqlEventStore
from tui.cli import main


async def test_a_stopped_run_stands_stopped_and_a_driven_one_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "runs.db")
    async with await SqlEventStore.open(db) as store:
        await store.append([EventBus(RUN_ID).emit(started())])

    async def said() -> tuple[list[dict[str, object]], dict[str, object]]:
        capsys.readouterr()  # the commands run their own loops: in a thread, beside this one
        assert await asyncio.to_thread(main, ["runs", "--json", "--db", db]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert await asyncio.to_thread(main, ["status", RUN_ID, "--json", "--db", db]) == 0
        return rows, json.loads(capsys.readouterr().out)

    (row,), report = await said()
    assert (row["outcome"], row["live"], row["standing"]) == ("running", False, "stopped")
    assert (report["outcome"], report["live"], report["standing"]) == (
        "running",
        False,
        "stopped",
    )

    async with await SqlEventStore.open(db) as store:
        lease = await RunLease.take(store, RUN_ID)  # a process drives it again
        try:
            (row,), report = await said()
        finally:
            await lease.release()
    assert (row["live"], row["standing"]) == (True, "running")
    assert (report["live"], report["standing"]) == (True, "running")
