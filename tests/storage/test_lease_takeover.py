"""Two processes never drive one run: a run whose lease another process took stops here.

On PostgreSQL the lease is a session lock, and a session can end under a live run (a server
restart, a failover, an administrator's ``pg_terminate_backend``). The run's process takes the
lock again at once; but if another process (a ``resume`` on another host) took it first, that
process drives the run now. The first one only logged an error and drove on: both merged the
same tasks and wrote the same sequence numbers. Here the takeover is real — the lease's
backend is terminated and another session takes the lock — and the run stops.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.events import Outcome, RunFinished
from engine.state import RunState
from storage import lease as lease_module
from storage.errors import RunStopped
from storage.lease import live_runs
from storage.store import SqlEventStore
from tui.compose import RunPlan, execute_run, prepare_demo_repo
from tui.config import load_settings

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]


async def _lease_taken(store: SqlEventStore) -> str:
    """The id of the run once its process holds its lease."""
    for _ in range(600):
        runs = await store.list_runs()
        if runs and await live_runs(store, [runs[0].run_id]):
            return runs[0].run_id
        await asyncio.sleep(0.05)
    raise AssertionError("the run never took its lease")


async def test_a_run_taken_over_by_another_process_stops_driving_it(
    empty_pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    repo, request, playbook = prepare_demo_repo("inventory", tmp_path / "repo")
    settings = load_settings(playbook.parent / "shopfloor.toml")
    plan = RunPlan(
        request=request,
        repo=repo,
        db_url=empty_pg_url,
        settings=replace(settings, playbook=playbook, speed=20.0),
    )
    running = asyncio.ensure_future(execute_run(plan))
    async with await SqlEventStore.open(empty_pg_url) as other:
        try:
            run_id = await _lease_taken(other)
        except BaseException:
            running.cancel()
            raise
        async with other.engine.connect() as conn:  # the other process, on another host
            name = f"shopfloor run {run_id} 4242@elsewhere"
            await conn.execute(
                text("SELECT set_config('application_name', :n, false)"), {"n": name}
            )
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name LIKE :like AND pid <> pg_backend_pid()"
                    " AND datname = current_database()"
                ),
                {"like": f"shopfloor run {run_id} %"},
            )
            # Waits for the terminated session to let go, then holds the run's lock.
            key = {"ns": lease_module._PG_NAMESPACE, "key": lease_module._pg_key(run_id)}
            await asyncio.wait_for(
                conn.execute(text("SELECT pg_advisory_lock(:ns, :key)"), key), timeout=10
            )
            await conn.commit()
            with pytest.raises(RunStopped) as stopped:
                await asyncio.wait_for(running, timeout=30)
            message = str(stopped.value)
            assert "\n" not in message
            assert f"run {run_id} stopped here" in message
            assert "another process took the run over (pid 4242 on elsewhere" in message
            stored = await other.count_events(run_id)
            await asyncio.sleep(0.5)
            assert await other.count_events(run_id) == stored  # nothing more written from here
            events = await other.read(run_id)
    assert not any(isinstance(e, RunFinished) for e in events)
    assert RunState.fold(events).outcome is Outcome.RUNNING  # resumable, by whoever drives it
