"""A database that starts refusing events mid-run stops the run with one line; nothing hangs.

The refusal is real: a SQLite trigger aborts every insert once the run has stored a few
events (as a full disk or a revoked grant would), so the storage writer process meets it
where it would meet the real thing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from storage.errors import StorageError
from storage.store import SqlEventStore
from tui.compose import RunPlan, execute_run, prepare_demo_repo
from tui.config import load_settings

pytestmark = pytest.mark.e2e


async def test_a_failing_database_stops_the_run_instead_of_hanging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    repo, request, playbook = prepare_demo_repo("inventory", tmp_path / "repo")
    settings = load_settings(playbook.parent / "shopfloor.toml")
    db = tmp_path / "db.sqlite"
    url = f"sqlite+aiosqlite:///{db}"
    await (await SqlEventStore.open(url)).close()  # migrated, then the disk "fills up"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER disk_full BEFORE INSERT ON events"
            " WHEN (SELECT count(*) FROM events) >= 20"
            " BEGIN SELECT RAISE(ABORT, 'disk full (injected)'); END"
        )
    plan = RunPlan(
        request=request,
        repo=repo,
        db_url=url,
        settings=replace(settings, playbook=playbook, speed=200.0),
    )
    with pytest.raises(StorageError) as info:
        await asyncio.wait_for(execute_run(plan), timeout=90)
    message = str(info.value)
    assert "could not be stored" in message and "disk full (injected)" in message
    assert "\n" not in message
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    assert 0 < stored <= 20  # what was stored before the refusal stays: the run can resume
