"""A database that starts refusing events mid-run stops the run with one line; nothing hangs."""

from __future__ import annotations

import asyncio
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
    real_append = SqlEventStore.append
    calls = 0

    async def flaky_append(self: SqlEventStore, events: list[object]) -> None:
        nonlocal calls
        calls += 1
        if calls > 3:  # the disk fills up a few batches into the run
            raise StorageError("disk full (injected)")
        await real_append(self, events)  # type: ignore[arg-type]

    monkeypatch.setattr(SqlEventStore, "append", flaky_append)
    plan = RunPlan(
        request=request,
        repo=repo,
        db_url=f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        settings=replace(settings, playbook=playbook, speed=200.0),
    )
    with pytest.raises(StorageError) as info:
        await asyncio.wait_for(execute_run(plan), timeout=60)
    message = str(info.value)
    assert "could not be stored" in message and "disk full (injected)" in message
    assert "\n" not in message
