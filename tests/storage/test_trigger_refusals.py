"""A trigger that rejects a run's events stops the run at once with exit 1, not 75.

The writer process sent its failure back as text that said nothing of its kind, and a
batch a trigger rejected (PL/pgSQL's ``RAISE EXCEPTION``, SQLite's ``RAISE(ABORT)``) or a
CHECK constraint refused was retried, then stopped the run with exit 75 (EX_TEMPFAIL: "try
later"), which a systemd unit restarts every ``RestartSec`` into the same refusal for ever.
Now the SQLSTATE class (PostgreSQL) or result code (SQLite) sorts it: a refusal of the data
is for good (``refused`` across the process boundary, exit 1); a lock, a full disk, an
outage or a statement timeout is still waited out (exit 75: test_outage_exit_try_later.py,
test_full_disk.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest
from demo_process import cli
from refused_demo import WINDOW_S, demo_cut_off, writer_refused
from sqlalchemy.engine import make_url

from storage.errors import WritesRefused, refused_for_good
from storage.store import SqlEventStore
from tui.commands.exit_codes import EXIT_FAILED

FROZEN = "the log is frozen for the audit"
"""What the triggers below say as they reject an event."""


@pytest.mark.postgres
@pytest.mark.timeout(120)
async def test_a_postgresql_trigger_that_raises_stops_the_run_with_exit_1(
    tmp_path: Path, empty_pg_url: str, share_gate_cache: Callable[[Path], None]
) -> None:
    """P0001 (``RAISE EXCEPTION``) is the trigger's verdict on the data, not an outage: the
    writer process says ``refused``, the run exits 1 at once; without the trigger, ``resume``
    ships it."""
    share_gate_cache(tmp_path / "home")  # the gates' verdicts are not what this is about
    await (await SqlEventStore.open(empty_pg_url)).close()
    admin_dsn = make_url(empty_pg_url).set(drivername="postgresql").render_as_string(False)
    admin = await asyncpg.connect(admin_dsn)
    try:

        async def stored() -> int:
            return int(await admin.fetchval("SELECT count(*) FROM events"))

        async def freeze() -> None:
            await admin.execute(
                "CREATE FUNCTION frozen() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{FROZEN}'; END $$"
            )
            await admin.execute(
                "CREATE TRIGGER frozen BEFORE INSERT ON events "
                "FOR EACH ROW EXECUTE FUNCTION frozen()"
            )

        code, said, took = await demo_cut_off(tmp_path, empty_pg_url, stored, freeze)
        assert code == EXIT_FAILED, said[-10:]  # was 75: systemd restarted it for ever
        assert took < WINDOW_S / 4, took  # not retried through the outage window
        (run_id,) = await admin.fetchval("SELECT array_agg(run_id) FROM runs")
        assert said[-1] == (
            "shopfloor: the run stopped because the database refuses its events, which "
            f"waiting will not change: cannot write events: {FROZEN}; fix the database (the "
            "role's privileges, its tables, a trigger or constraint that rejects them, the "
            f"file), then `shopfloor resume {run_id} --db {empty_pg_url}` carries the run on"
        ), said[-10:]

        await admin.execute("DROP TRIGGER frozen ON events")
        again = await asyncio.to_thread(
            cli, tmp_path / "home", "resume", run_id, "--headless", "--db", empty_pg_url
        )
        assert again.returncode == 0, again.stderr[-2000:]
        assert await admin.fetchval("SELECT outcome FROM runs") == "shipped"
    finally:
        await admin.close()


@pytest.mark.timeout(120)
async def test_a_sqlite_trigger_that_raises_stops_the_run_with_exit_1(tmp_path: Path) -> None:
    """``RAISE(ABORT, ...)`` fails the INSERT with SQLITE_CONSTRAINT_TRIGGER: for good."""
    db = tmp_path / "shop.db"

    async def stored() -> int:
        try:
            with sqlite3.connect(db, timeout=5) as conn:
                return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
        except sqlite3.OperationalError:  # not migrated yet
            return 0

    async def freeze() -> None:
        with sqlite3.connect(db, timeout=5) as conn:
            conn.execute(
                "CREATE TRIGGER frozen BEFORE INSERT ON events "
                f"BEGIN SELECT RAISE(ABORT, '{FROZEN}'); END"
            )

    code, said, took = await demo_cut_off(tmp_path, str(db), stored, freeze)
    assert code == EXIT_FAILED, said[-10:]
    assert took < WINDOW_S / 4, took
    assert said[-1].startswith(
        "shopfloor: the run stopped because the database refuses its events, which waiting "
        f"will not change: cannot write events: {FROZEN}; fix the database ("
    ), said[-10:]


TOO_LONG = (
    "CREATE TRIGGER small BEFORE INSERT ON events WHEN length(NEW.body) > 10 "
    "BEGIN SELECT RAISE(FAIL, 'too long'); END"
)
"""A trigger that refuses any event whose body is over 10 characters."""


async def test_a_trigger_refusal_is_given_up_on_at_once(tmp_path: Path) -> None:
    """In process: the writer does not retry a batch a trigger rejects (``RAISE(FAIL)``)."""
    async with writer_refused(tmp_path / "shop.db", TOO_LONG, "r-small") as (writer, writing):
        with pytest.raises(WritesRefused, match="too long"):
            await asyncio.wait_for(writing, 5)
        assert writer.retried == 0


def sqlite_refusal(db: Path, setup: str, statement: str) -> sqlite3.Error:
    """The real error ``statement`` meets on ``db`` once ``setup`` ran on another connection
    (which keeps its transaction open)."""
    holder = sqlite3.connect(db, isolation_level=None)
    holder.executescript(f"CREATE TABLE IF NOT EXISTS t (x CHECK (x > 0)); {setup}")
    try:
        with sqlite3.connect(db, timeout=0) as conn:
            conn.execute(statement)
    except sqlite3.Error as exc:
        return exc
    finally:
        holder.close()
    raise AssertionError(f"{statement} went through")


@pytest.mark.parametrize(
    ("setup", "statement", "for_good"),
    [
        ("BEGIN IMMEDIATE;", "INSERT INTO t VALUES (1)", False),  # database is locked
        ("", "INSERT INTO t VALUES (-1)", True),  # a CHECK constraint
        (
            "CREATE TRIGGER no BEFORE INSERT ON t BEGIN SELECT RAISE(ABORT, 'no'); END;",
            "INSERT INTO t VALUES (1)",
            True,
        ),
    ],
)
def test_sqlite_errors_are_sorted_by_whether_waiting_cures_them(
    tmp_path: Path, setup: str, statement: str, for_good: bool
) -> None:
    exc = sqlite_refusal(tmp_path / "sorted.db", setup, statement)
    assert refused_for_good(exc) is for_good, exc


@pytest.mark.postgres
async def test_postgresql_errors_are_sorted_by_whether_waiting_cures_them(
    empty_pg_url: str,
) -> None:
    dsn = make_url(empty_pg_url).set(drivername="postgresql").render_as_string(False)
    conn = await asyncpg.connect(dsn)
    try:
        said: dict[str, Exception] = {}
        for name, statement in {
            "raise": "DO $$ BEGIN RAISE EXCEPTION 'no'; END $$",
            "check": "CREATE TEMP TABLE t (x int CHECK (x > 0)); INSERT INTO t VALUES (-1)",
            "timeout": "SET statement_timeout = 1; SELECT pg_sleep(1)",
        }.items():
            try:
                await conn.execute(statement)
            except asyncpg.PostgresError as exc:
                said[name] = exc
            await conn.execute("RESET statement_timeout")
    finally:
        await conn.close()
    assert refused_for_good(said["raise"])  # P0001
    assert refused_for_good(said["check"])  # 23514
    assert not refused_for_good(said["timeout"])  # 57014: a busy server, not the data
