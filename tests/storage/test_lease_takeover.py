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
from repo_helpers import git, make_repo
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from engine.events import Outcome, RunFinished
from engine.state import RunState
from engine.workspace import GitWorkspaces
from engine.workspace_errors import WorkspaceError
from storage import lease as lease_module
from storage.errors import RunStopped
from storage.lease import RunTakenOver, live_runs
from storage.store import SqlEventStore
from tui.compose import execute_run
from tui.config import load_settings
from tui.demo_repo import prepare_demo_repo
from tui.run_plan import RunPlan
from tui.storage_watch import StorageWatch


async def _lease_taken(store: SqlEventStore) -> str:
    """The id of the run once its process holds its lease."""
    for _ in range(600):
        runs = await store.list_runs()
        if runs and await live_runs(store, [runs[0].run_id]):
            return runs[0].run_id
        await asyncio.sleep(0.05)
    raise AssertionError("the run never took its lease")


async def _queued_for_the_lock(admin: AsyncConnection, pid: int) -> None:
    """Once the session ``pid`` waits in an advisory lock's queue."""
    for _ in range(600):
        waiting = await admin.execute(
            text(
                "SELECT 1 FROM pg_locks WHERE pid = :pid AND locktype = 'advisory' AND NOT granted"
            ),
            {"pid": pid},
        )
        if waiting.first() is not None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the other session never asked for the run's lock")


@pytest.mark.postgres
@pytest.mark.e2e
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
        key = {"ns": lease_module._PG_NAMESPACE, "key": lease_module._pg_key(run_id)}
        async with other.engine.connect() as conn, other.engine.connect() as admin:
            # The other process, on another host, asks for the run's lock and waits in the
            # lock's queue; then the lease's backend is terminated. Queued first, the other
            # session gets the lock when the terminated one lets go. (Terminated first, the
            # run's process could take its lock again before the other session asked: under
            # load it did, and the test waited for a takeover that never came.)
            name = f"shopfloor run {run_id} 4242@elsewhere"
            await conn.execute(
                text("SELECT set_config('application_name', :n, false)"), {"n": name}
            )
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            locking = asyncio.ensure_future(
                conn.execute(text("SELECT pg_advisory_lock(:ns, :key)"), key)
            )
            await _queued_for_the_lock(admin, pid)
            await admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name LIKE :like AND pid <> :waiting"
                    " AND datname = current_database()"
                ),
                {"like": f"shopfloor run {run_id} %", "waiting": pid},
            )
            await asyncio.wait_for(locking, timeout=30)
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


class LostLease:
    """Stands in for a lease that another process takes when the test says so."""

    def __init__(self) -> None:
        self.taken = asyncio.get_running_loop().create_future()

    async def taken_over(self) -> RunTakenOver:
        return await self.taken


async def test_a_run_taken_over_leaves_the_repository_to_the_process_that_took_it(
    tmp_path: Path,
) -> None:
    """Cancelled after a takeover, the run's attempts used to clean up as after Ctrl-C: put
    back the integration branch the new driver had moved (as an agent's move), and remove
    the run's worktrees, the new driver's among them."""
    repo = make_repo(tmp_path / "repo", {"app.py": "A = 1\n"})
    ws = GitWorkspaces(repo, "r-taken", tmp_path / "worktrees")
    base = await ws.start()
    first = await ws.add_worktree("t1-a1", base)
    (first / "t1.py").write_text("T1 = 1\n")
    landed = await ws.commit_all(first, "t1")
    assert landed is not None
    await ws.advance(landed, base)  # this process merged t1
    ours = await ws.add_worktree("t2-a1", landed)  # and was running t2's agent when ...

    async def factory_run() -> RunState:
        try:
            await asyncio.Event().wait()  # the agent works
        finally:  # cancelled: what Factory.run and the attempt do on the way out
            await ws.remove_worktree(ours)
            await ws.cleanup()
        raise AssertionError("not reached")

    lease = LostLease()
    writer = asyncio.ensure_future(asyncio.Event().wait())
    watch = StorageWatch(writer, lease, ws.relinquish)  # type: ignore[arg-type]
    running = asyncio.ensure_future(watch.run(factory_run))
    await asyncio.sleep(0.1)

    # ... another process took the run over: it resumed, merged t2 its own way and started t3.
    theirs = git(repo, "commit-tree", "-p", landed, "-m", "t2 (theirs)", f"{landed}^{{tree}}")
    git(repo, "update-ref", ws._ref(ws.integration_branch), theirs)
    git(repo, "worktree", "add", "--detach", "--quiet", str(ws.root / "t3-a1"), theirs)
    lease.taken.set_result(RunTakenOver("r-taken", "pid 4242 on elsewhere"))

    with pytest.raises(RunTakenOver):
        await asyncio.wait_for(running, timeout=10)
    assert ws.branch_tip(ws.integration_branch) == theirs
    assert (ws.root / "t3-a1" / "app.py").is_file()
    with pytest.raises(WorkspaceError, match="another process drives run r-taken now"):
        await ws.ship("shopfloor/late", landed)
