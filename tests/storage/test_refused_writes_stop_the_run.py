"""A database that refuses a run's events for good stops the run at once with exit 1, not 75.

Exit 75 (EX_TEMPFAIL) says the same command works once the database is back, and systemd
units restart on it. A role that lost its INSERT privilege or a dropped table is not an
outage: the run exited 75 and was restarted into the same refusal all night. Here a real
``shopfloor demo`` writes to a real database that starts refusing mid-run — a REVOKE on
PostgreSQL, a dropped table on SQLite — and must stop in one line that says waiting will not
help, well within its outage window; once the grant is back, ``resume`` ships the run. A
trigger's refusal: test_trigger_refusals.py.
Transient failures (an outage, a full disk) keep exit 75: test_outage_exit_try_later.py,
tests/e2e/test_storage_failure_stops_run.py.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest
from demo_process import cli
from refused_demo import WINDOW_S, demo_cut_off, writer_refused
from sqlalchemy import text
from sqlalchemy.engine import make_url

from engine.bus import EventBus
from engine.events import AgentOutput, EventBase
from storage.errors import LOG_GONE_REMEDY, LogGone, StorageError, WritesRefused
from storage.store import SqlEventStore
from storage.writer import StorageWriter
from tui.commands.exit_codes import EXIT_BAD_INPUT, EXIT_FAILED


@pytest.fixture
async def writer_role(empty_pg_url: str) -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    """The migrated scratch database's URL as a role of its own with every privilege on its
    tables, and an admin connection to it."""
    await (await SqlEventStore.open(empty_pg_url)).close()
    role = f"shopfloor_writer_{secrets.token_hex(3)}"
    admin_dsn = make_url(empty_pg_url).set(drivername="postgresql").render_as_string(False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        await admin.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"')
        await admin.execute(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
        url = make_url(empty_pg_url).set(username=role).render_as_string(False)
        yield url, admin
    finally:
        await admin.execute(f'DROP OWNED BY "{role}"')
        await admin.execute(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
        )
        await admin.execute(f'DROP ROLE "{role}"')
        await admin.close()


@pytest.mark.postgres
@pytest.mark.timeout(120)
async def test_a_role_that_lost_insert_stops_the_run_with_exit_1_and_resume_ships_it(
    tmp_path: Path,
    writer_role: tuple[str, asyncpg.Connection],
    share_gate_cache: Callable[[Path], None],
) -> None:
    url, admin = writer_role
    share_gate_cache(tmp_path / "home")  # the gates' verdicts are not what this is about
    role = make_url(url).username

    async def stored() -> int:
        return int(await admin.fetchval("SELECT count(*) FROM events"))

    async def revoke() -> None:
        await admin.execute(f'REVOKE INSERT ON events FROM "{role}"')

    code, said, took = await demo_cut_off(tmp_path, url, stored, revoke)
    assert code == EXIT_FAILED, said[-10:]  # not 75: restarting cannot help
    assert took < WINDOW_S / 4, took  # stopped at once, not after the outage window
    (run_id,) = await admin.fetchval("SELECT array_agg(run_id) FROM runs")
    assert said[-1] == (
        "shopfloor: the run stopped because the database refuses its events, which waiting "
        "will not change: cannot write events: permission denied for table events; fix the "
        "database (the role's privileges, its tables, a trigger or constraint that rejects "
        "them, the file), then "
        f"`shopfloor resume {run_id} --db {url}` carries the run on"
    ), said[-10:]

    await admin.execute(f'GRANT INSERT ON events TO "{role}"')
    again = await asyncio.to_thread(
        cli, tmp_path / "home", "resume", run_id, "--headless", "--db", url
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert await admin.fetchval("SELECT outcome FROM runs") == "shipped"
    seqs = [r["seq"] for r in await admin.fetch("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing stored twice


def drop_the_table(db: Path) -> None:
    with sqlite3.connect(db, timeout=5) as conn:
        conn.execute("DROP TABLE events")


def delete_the_file(db: Path) -> None:
    """The database file gone with its -wal and -shm (those there)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def replace_the_file(db: Path) -> None:
    """Renamed over with something that is not a database (a restore gone wrong)."""
    stray = db.with_name("stray")
    stray.write_bytes(b"not a database\n" * 4096)
    stray.replace(db)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("refuse", "words", "resume_says"),
    [
        (
            drop_the_table,
            "cannot write events: no such table: events",
            f"the database has no events table, so no run's log is in it; {LOG_GONE_REMEDY}",
        ),
        (
            delete_the_file,
            "was deleted or replaced during the run",
            f"though runs were driven on one there (their leases are in {{leases}}): it was "
            f"deleted or moved; {LOG_GONE_REMEDY}",
        ),
        (
            replace_the_file,
            "was deleted or replaced during the run",
            f"is not a SQLite database any more, though runs were driven on one there (their "
            f"leases are in {{leases}}): it was overwritten or replaced; {LOG_GONE_REMEDY}",
        ),
    ],
)
async def test_a_sqlite_file_that_refuses_for_good_stops_the_run_with_exit_1(
    tmp_path: Path, refuse: Callable[[Path], None], words: str, resume_says: str
) -> None:
    """Deleted or replaced, the file took every event after it with it, silently: the run
    shipped with exit 0, its log in no file. A dropped table exited 75."""
    db = tmp_path / "data" / "shop.db"
    db.parent.mkdir()
    resume_says = resume_says.format(leases=db.with_name("shop.db.leases"))

    async def stored() -> int:
        try:
            with sqlite3.connect(db, timeout=5) as conn:
                return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
        except sqlite3.OperationalError:  # not migrated yet
            return 0

    async def inject() -> None:
        refuse(db)

    code, said, took = await demo_cut_off(tmp_path, str(db), stored, inject)
    assert code == EXIT_FAILED, said[-10:]
    assert took < WINDOW_S / 4, took
    assert said[-1].startswith(
        "shopfloor: the run stopped because the database no longer holds its log, which "
        "waiting will not change: "
    ), said[-10:]
    assert words in said[-1], said[-10:]
    # The log went with the table or the file: "fix the database, then resume" was advice
    # nothing could follow; what brings the log back is a backup or an export.
    run_id = re.findall(r"`shopfloor resume (\w+) --db \S+` on the restored database", said[-1])
    assert run_id, said[-1]
    assert said[-1].endswith(
        f"{LOG_GONE_REMEDY}, then `shopfloor resume {run_id[0]} --db {db}` on the restored "
        "database (or with --db naming the new one) carries it on"
    )
    again = cli(tmp_path / "home", "resume", run_id[0], "--db", str(db))
    assert again.returncode == EXIT_BAD_INPUT, again.stderr[-2000:]
    assert again.stderr.count("\n") == 1 and "Traceback" not in again.stderr, again.stderr
    assert resume_says in again.stderr, again.stderr


async def test_the_writer_gives_up_on_a_refusal_at_once_without_retrying(tmp_path: Path) -> None:
    """In process (an in-memory database's writer) too: no retries, :class:`WritesRefused`."""
    async with writer_refused(tmp_path / "shop.db", "DROP TABLE events", "r-refused") as (
        writer,
        writing,
    ):
        with pytest.raises(WritesRefused, match="no such table: events"):
            await asyncio.wait_for(writing, 5)
        assert writer.retried == 0


async def test_a_dropped_events_table_is_a_lost_log_on_each_backend(
    backend_url: str, emit_little_run: Callable[[EventBus], list[EventBase]]
) -> None:
    """The writer says the log is gone (:class:`LogGone`, whose stop line does not promise a
    resume), and reading the run says what brings its log back, on SQLite and PostgreSQL."""
    store = await SqlEventStore.open(backend_url)
    try:
        await store.append(emit_little_run(EventBus("r-lost"))[:3])
        async with store.engine.begin() as conn:
            await conn.execute(text("DROP TABLE events"))
        bus = EventBus("r-next")
        writer = StorageWriter(store, bus.subscribe("storage"), outage_s=WINDOW_S)
        writing = asyncio.create_task(writer.run())
        bus.emit(AgentOutput(agent_id="eng-1", text="hello"))
        with pytest.raises(LogGone):
            await asyncio.wait_for(writing, 5)
        with pytest.raises(StorageError) as read:
            await store.read("r-lost")
        assert str(read.value) == (
            "cannot read events of run r-lost: the database has no events table, so no run's "
            f"log is in it; {LOG_GONE_REMEDY}, and use that"
        )
    finally:
        await store.close()
