"""A run or a resume on a database that refuses its events stops before it does anything.

Measured: ``resume`` of a stopped run on an immutable SQLite file (``chattr +i``), or on a
database that lost its ``tasks`` table, printed "resumed at stage review", "stage review"
and set its agents and gates going before its first batch was refused; a new ``demo`` on
the immutable file started the critic and made the run's branch, then said `shopfloor
resume RUN` carries it on, a run nothing of which was stored. Now the store is asked whether
it takes the run's events (:meth:`~storage.event_log.EventLog.check_writes`) as the run's
lease is taken: the same one-line refusal, exit 1, nothing done.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from demo_process import cli
from sqlalchemy.engine import make_url

from engine.bus import EventBus
from engine.events import EventBase
from engine.state import RunState
from storage.errors import RunStopped
from storage.store import SqlEventStore
from tui.commands.exit_codes import EXIT_FAILED, EXIT_OK
from tui.storage_watch import open_and_lease

ROOT = Path(__file__).resolve().parents[2]


def stored(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError:  # not migrated yet
        return 0


async def stopped_demo(tmp_path: Path, db: Path) -> str:
    """A ``shopfloor demo`` killed once it stored 40 events: its run id. (The SIM at 1000
    times its pace: its latencies are not what these tests are about.)"""
    env = {**os.environ, "SHOPFLOOR_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    demo = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tui.cli", "demo", "--headless", "--speed", "1000"),
        *("--out", str(tmp_path / "repo"), "--db", str(db)),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while stored(db) < 40:
            assert demo.returncode is None and time.monotonic() < deadline, "no 40 events"
            await asyncio.sleep(0.02)
    finally:
        demo.kill()
        await demo.wait()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all of it in the file itself
        (run_id,) = conn.execute("SELECT run_id FROM runs WHERE outcome = 'running'").fetchone()
    return str(run_id)


async def resumed(tmp_path: Path, run_id: str, db: Path) -> subprocess.CompletedProcess[str]:
    """``shopfloor resume RUN --headless --db DB``, run in a thread."""
    return await asyncio.to_thread(
        cli, tmp_path / "home", "resume", run_id, "--headless", "--db", str(db)
    )


@pytest.fixture
def immutable() -> Iterator[list[Path]]:
    """Files to make immutable (``chattr +i``, root only); made mutable again after."""
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("chattr +i takes root and e2fsprogs")
    files: list[Path] = []
    yield files
    for path in files:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def make_immutable(files: list[Path], path: Path) -> None:
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"this file system takes no immutable flag: {made.stderr.strip()}")
    files.append(path)


@pytest.mark.timeout(180)
async def test_a_resume_on_an_immutable_database_stops_before_it_starts_anything(
    tmp_path: Path, immutable: list[Path]
) -> None:
    db = tmp_path / "shop.db"
    run_id = await stopped_demo(tmp_path, db)
    events = stored(db)
    make_immutable(immutable, db)

    said = await resumed(tmp_path, run_id, db)
    assert said.returncode == EXIT_FAILED, said.stderr[-2000:]
    assert said.stderr.splitlines()[-1] == (
        "shopfloor: the run stopped because the database refuses its events, which waiting "
        "will not change: cannot write events: attempt to write a readonly database; fix the "
        "database (the role's privileges, its tables, a trigger or constraint that rejects "
        "them, the file), then "
        f"`shopfloor resume {run_id} --db {db}` carries the run on"
    ), said.stderr[-2000:]
    assert said.stdout == "", said.stdout  # not "resumed at stage ...", no stage, no agent
    assert stored(db) == events


@pytest.mark.timeout(180)
async def test_a_new_run_on_an_immutable_database_stops_before_it_starts_anything(
    tmp_path: Path, immutable: list[Path]
) -> None:
    db = tmp_path / "shop.db"
    await asyncio.to_thread(cli, tmp_path / "home", "db", "upgrade", "--db", str(db))
    make_immutable(immutable, db)
    repo = tmp_path / "repo"

    said = await asyncio.to_thread(
        cli, tmp_path / "home", "demo", "--headless", "--out", str(repo), "--db", str(db)
    )
    assert said.returncode == EXIT_FAILED, said.stderr[-2000:]
    # Nothing of the run is stored: no resume to offer.
    assert said.stderr.splitlines()[-1] == (
        "shopfloor: the run stopped because the database refuses its events, which waiting "
        "will not change: cannot write events: attempt to write a readonly database; fix the "
        "database (the role's privileges, its tables, a trigger or constraint that rejects "
        "them, the file)"
    ), said.stderr[-2000:]
    assert "stage" not in said.stdout and "started" not in said.stdout, said.stdout
    branches = await asyncio.to_thread(
        subprocess.run,
        ["git", "-C", str(repo), "branch", "--format=%(refname:short)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert branches.stdout.split() == ["main"]  # no run branch was made


@pytest.mark.timeout(180)
async def test_a_resume_on_a_database_without_a_projection_stops_then_ships_after_rebuild(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    db = tmp_path / "shop.db"
    share_gate_cache(tmp_path / "home")  # the gates' verdicts are not what this is about
    run_id = await stopped_demo(tmp_path, db)
    events = stored(db)
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE tasks")

    said = await resumed(tmp_path, run_id, db)
    assert said.returncode == EXIT_FAILED, said.stderr[-2000:]
    assert said.stderr.splitlines()[-1] == (
        "shopfloor: the run stopped because the database lost a table its log rebuilds, "
        "which waiting will not change: cannot write events: no such table: tasks; "
        f"`shopfloor db rebuild --db {db}` recreates it from the events table (a projection "
        f"of the log: nothing is lost), then `shopfloor resume {run_id} --db {db}` carries "
        "the run on"
    ), said.stderr[-2000:]
    assert said.stdout == "", said.stdout
    assert stored(db) == events

    rebuilt = await asyncio.to_thread(cli, tmp_path / "home", "db", "rebuild", "--db", str(db))
    assert rebuilt.returncode == EXIT_OK, rebuilt.stderr
    again = await resumed(tmp_path, run_id, db)
    assert again.returncode == EXIT_OK, again.stderr[-2000:]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT outcome FROM runs").fetchall() == [("shipped",)]
        assert conn.execute("SELECT count(*) FROM tasks").fetchone()[0] > 0


@pytest.mark.postgres
async def test_a_role_that_lost_insert_is_refused_as_the_run_takes_its_lease(
    empty_pg_url: str, emit_little_run: Callable[[EventBus], list[EventBase]]
) -> None:
    """On PostgreSQL too (the real server): the lease is an advisory lock, which writes
    nothing, so before the check the first refusal came with the run's first batch."""
    async with await SqlEventStore.open(empty_pg_url) as store:
        await store.append(emit_little_run(EventBus("r-pg"))[:3])
    role = f"shopfloor_probe_{secrets.token_hex(3)}"
    admin_dsn = make_url(empty_pg_url).set(drivername="postgresql").render_as_string(False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        await admin.execute(
            f'GRANT SELECT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"'
        )
        await admin.execute(f'GRANT INSERT ON runs, tasks, escalations, learnings TO "{role}"')
        url = make_url(empty_pg_url).set(username=role).render_as_string(False)
        with pytest.raises(RunStopped) as refused:
            await open_and_lease(url, "r-pg", RunState.fold(await _read(empty_pg_url)))
        assert str(refused.value) == (
            "the run stopped because the database refuses its events, which waiting will not "
            "change: cannot write events: permission denied for table events; fix the "
            "database (the role's privileges, its tables, a trigger or constraint that rejects "
            "them, the file), then "
            f"`shopfloor resume r-pg --db {url}` carries the run on"
        )
        await admin.execute(f'GRANT INSERT ON events TO "{role}"')
        store, lease = await open_and_lease(url, "r-pg", RunState.fold(await _read(empty_pg_url)))
        await lease.release()  # the lease was let go with the refusal: taken again at once
        await store.close()
    finally:
        await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.execute(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
        )
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()


async def _read(url: str) -> list[EventBase]:
    async with await SqlEventStore.open(url) as store:
        return await store.read("r-pg")
