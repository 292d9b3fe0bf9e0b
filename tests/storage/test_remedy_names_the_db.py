"""The lines that say what brings a database back name the database the user ran on.

Measured with real ``shopfloor`` processes: a new ``demo --db other.db`` on a database
without its events table said "then a resume there carries it on", though nothing of the
run was stored; on one without its tasks table it said `shopfloor db rebuild`, which acts
on the data home's database, not other.db; and ``db upgrade`` on that database said
"schema already at revision 0003", making nothing again. Now: start the run again; the
commands carry ``--db`` (the SQLite path, or the URL without its password); ``db upgrade``
names the missing table and the rebuild that makes it.
"""

from __future__ import annotations

import asyncio
import shlex
import sqlite3
from pathlib import Path

import asyncpg
import pytest
from demo_process import cli
from sqlalchemy.engine import make_url

from storage.store import SqlEventStore
from tui.commands.exit_codes import EXIT_FAILED, EXIT_OK


def migrated_without(home: Path, db: Path, table: str) -> None:
    assert cli(home, "db", "upgrade", "--db", str(db)).returncode == EXIT_OK
    with sqlite3.connect(db) as conn:
        conn.execute(f"DROP TABLE {table}")


@pytest.mark.timeout(120)
async def test_a_new_run_on_a_database_without_its_log_says_start_again(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    migrated_without(tmp_path / "home", db, "events")
    said = await asyncio.to_thread(
        cli,
        *(tmp_path / "home", "demo", "--headless", "--speed", "5"),
        *("--out", str(tmp_path / "repo"), "--db", str(db)),
    )
    assert said.returncode == EXIT_FAILED, said.stderr[-2000:]
    assert said.stderr.splitlines()[-1] == (
        "shopfloor: the run stopped because the database no longer holds its log, which "
        "waiting will not change: cannot write events: no such table: events; nothing of "
        "this run was stored, so there is nothing to resume: once the database is fixed "
        "(restored from a backup, or a new one given to --db), start the run again"
    )  # was: "...into a new database (--db), then a resume there carries it on"


@pytest.mark.timeout(120)
async def test_the_rebuild_a_new_run_is_told_acts_on_its_database(tmp_path: Path) -> None:
    home, db = tmp_path / "home", tmp_path / "other.db"
    migrated_without(home, db, "tasks")
    said = await asyncio.to_thread(
        cli,
        *(home, "demo", "--headless", "--speed", "5"),
        *("--out", str(tmp_path / "repo"), "--db", str(db)),
    )
    assert said.returncode == EXIT_FAILED, said.stderr[-2000:]
    line = said.stderr.splitlines()[-1]
    assert f"; `shopfloor db rebuild --db {db}` recreates it from the events table" in line
    command = shlex.split(line.split("`")[1])  # the command as the user would paste it
    rebuilt = await asyncio.to_thread(cli, home, *command[1:])
    assert rebuilt.returncode == EXIT_OK, rebuilt.stderr
    assert "recreated the table(s) the database had lost: tasks" in rebuilt.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM tasks").fetchone() == (0,)
    assert not (home / "shopfloor.db").exists()  # the data home's database was not touched
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)


async def test_db_upgrade_names_a_missing_projection_and_the_rebuild(tmp_path: Path) -> None:
    """In one line on stderr, exit 1: the schema is not whole, and a run on it stops (a
    script or a deployment step checking ``db upgrade`` went on, on exit 0)."""
    home, db = tmp_path / "home", tmp_path / "other.db"
    migrated_without(home, db, "tasks")
    said = await asyncio.to_thread(cli, home, "db", "upgrade", "--db", str(db))
    assert said.returncode == EXIT_FAILED, said.stderr
    assert said.stdout == ""
    assert said.stderr == (
        f"shopfloor: sqlite+aiosqlite:///{db}: schema stamped at revision 0003, but the "
        f"database has no tasks table; `shopfloor db rebuild --db {db}` makes it again from "
        "the events table (a projection of the log: nothing is lost)\n"
    )  # was: "schema already at revision 0003", then the same words on stdout with exit 0
    command = shlex.split(said.stderr.split("`")[1])
    assert (await asyncio.to_thread(cli, home, *command[1:])).returncode == EXIT_OK
    again = await asyncio.to_thread(cli, home, "db", "upgrade", "--db", str(db))
    assert (again.returncode, again.stdout) == (
        EXIT_OK,
        f"sqlite+aiosqlite:///{db}: schema already at revision 0003\n",
    )


@pytest.mark.postgres
async def test_on_postgresql_the_commands_name_the_url_without_its_password(
    tmp_path: Path, empty_pg_url: str
) -> None:
    """The real server (trust: any password is accepted, and none may be shown)."""
    async with await SqlEventStore.open(empty_pg_url):
        pass
    url = make_url(empty_pg_url).set(password="s3cret").render_as_string(hide_password=False)
    dsn = make_url(empty_pg_url).set(drivername="postgresql").render_as_string(False)
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute("DROP TABLE learnings")
    finally:
        await admin.close()
    said = await asyncio.to_thread(cli, tmp_path / "home", "db", "upgrade", "--db", url)
    assert said.returncode == EXIT_FAILED, said.stderr
    parts = make_url(empty_pg_url)
    shown = (
        f"'postgresql+asyncpg://{parts.username}:***@{parts.host}:{parts.port}/{parts.database}'"
    )
    assert "s3cret" not in said.stderr
    assert said.stderr.endswith(
        f"no learnings table; `shopfloor db rebuild --db {shown}` makes it again from the "
        "events table (a projection of the log: nothing is lost)\n"
    ), said.stderr
