"""The commands the "run X is still running" refusal names act on the run's database.

`shopfloor resume RUN --db other.db` on a run a live process drives was refused with
`shopfloor attach RUN` and `shopfloor tail RUN`: pasted, they read the data home's database,
where no such run is. Every other printed command carries the ``--db`` the user ran on
(storage.paths.db_option); these now do too, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Callable
from pathlib import Path

from demo_process import cli

from engine.bus import EventBus
from engine.events import EventBase
from storage.errors import RunInFlight
from storage.lease import RunLease, RunTakenOver
from storage.paths import db_option
from storage.store import SqlEventStore
from tui.commands.exit_codes import EXIT_BAD_INPUT, EXIT_OK

NAMED = re.compile(r"`(shopfloor (?:attach|tail) [^`]+)`")


async def test_the_refusal_of_a_live_run_names_commands_on_its_database(
    tmp_path: Path,
    backend_url: str,
    emit_little_run: Callable[[EventBus], list[EventBase]],
) -> None:
    home = tmp_path / "home"
    store = await SqlEventStore.open(backend_url)
    try:
        *under_way, finished = emit_little_run(EventBus("r-live"))
        await store.append(under_way)
        lease = await RunLease.take(store, "r-live")
        try:
            db = db_option(store.url)
            assert db.startswith(" --db ")  # not the data home's database
            refused = await asyncio.to_thread(
                cli, home, "resume", "r-live", "--headless", "--db", backend_url
            )
            assert refused.returncode == EXIT_BAD_INPUT, refused.stderr
            assert "run r-live is still running (pid " in refused.stderr
            named = NAMED.findall(refused.stderr)
            assert named == [f"shopfloor attach r-live{db}", f"shopfloor tail r-live{db}"]
        finally:
            await lease.release()
        await store.append([finished])
    finally:
        await store.close()
    # Pasted once the run shipped, the tail reads it from the run's database (without
    # --db: "no run matches 'r-live'", from the data home's).
    tail = await asyncio.to_thread(cli, home, *shlex.split(named[1])[1:])
    assert tail.returncode == EXIT_OK, tail.stdout[-2000:] + tail.stderr[-2000:]
    assert "run r-live started (create): Build a greeting CLI" in tail.stdout
    assert "run finished: shipped" in tail.stdout


async def test_the_lease_and_a_takeover_name_the_database_too(tmp_path: Path, db_url: str):
    store = await SqlEventStore.open(db_url)
    try:
        held = await RunLease.take(store, "r1")
        try:
            try:
                await RunLease.take(store, "r1")
            except RunInFlight as exc:
                refused = exc
            else:
                raise AssertionError("a second lease on r1 was granted")
        finally:
            await held.release()
    finally:
        await store.close()
    db = db_option(db_url)
    assert refused.db == db and f"`shopfloor tail r1{db}`" in str(refused)
    taken = RunTakenOver("r1", refused.holder, refused.db)
    assert str(taken).endswith(f"(`shopfloor attach r1{db}` follows it)")
