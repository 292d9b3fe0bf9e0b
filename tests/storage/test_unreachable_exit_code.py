"""A database out of reach when a command starts exits 75 (EX_TEMPFAIL, "try again later"); a
database URL that is wrong exits 2 (bad input).

At boot a systemd unit may start before PostgreSQL does: "connection refused" said exit 2,
"bad input", and a unit that rightly does not restart on bad input stayed down. Each command
that opens the store runs here as a real process against a port nothing listens on, and
against one that accepts and never answers; a malformed URL (its port not a number: a
traceback and exit 1 before) and a database that does not exist on a live server stay 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from pg_proxy import PgProxy
from sqlalchemy.engine import make_url

from storage.errors import DatabaseUnreachable
from storage.lease import live_runs
from storage.store import SqlEventStore
from tui.commands.exit_codes import EXIT_BAD_INPUT, EXIT_TRY_LATER

ROOT = Path(__file__).resolve().parents[2]


def shopfloor(home: Path, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "NO_COLOR": "1"}
    env.pop("SHOPFLOOR_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args, "--db", db],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound for a moment, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def commands(tmp_path: Path) -> dict[str, list[str]]:
    """Every command that opens the store, with the arguments it needs to get that far."""
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    return {
        "run": ["run", "Build a greeting CLI", "--repo", str(repo), "--headless"],
        "demo": ["demo", "--headless", "--out", str(tmp_path / "demo")],
        "resume": ["resume", "5e5e5e5e5e5e", "--headless"],
        "status": ["status", "5e5e5e5e5e5e"],
        "attach": ["attach", "5e5e5e5e5e5e"],
        "approve": ["approve", "e1", "--run", "5e5e5e5e5e5e"],
        "serve-metrics": ["serve-metrics", "--port", "9"],
    }


@pytest.mark.parametrize(
    "command", ["run", "demo", "resume", "status", "attach", "approve", "serve-metrics"]
)
def test_a_command_pointed_at_a_closed_port_exits_75_in_one_line(
    tmp_path: Path, closed_port: int, command: str
) -> None:
    url = f"postgresql+asyncpg://postgres:hunter2-secret@127.0.0.1:{closed_port}/shopfloor"
    done = shopfloor(tmp_path / "home", url, *commands(tmp_path)[command])
    said = done.stderr.strip().splitlines()
    assert done.returncode == EXIT_TRY_LATER, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(said) == 1, done.stderr  # one line, no traceback
    assert (
        f"nothing accepts connections at 127.0.0.1:{closed_port} (connection refused)" in (said[0])
    )
    assert "hunter2-secret" not in done.stdout + done.stderr


def test_a_server_that_never_answers_exits_75(tmp_path: Path, silent_port: int) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{silent_port}/shopfloor?connect_timeout=1"
    done = shopfloor(tmp_path / "home", url, "runs")
    assert done.returncode == EXIT_TRY_LATER, done.stdout + done.stderr
    assert f"no answer from 127.0.0.1:{silent_port} within 1s" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_malformed_url_exits_2_in_one_line(tmp_path: Path) -> None:
    done = shopfloor(
        tmp_path / "home", "postgresql+asyncpg://postgres:hunter2@127.0.0.1:54x/shopfloor", "runs"
    )
    assert done.returncode == EXIT_BAD_INPUT, done.stdout + done.stderr
    assert done.stderr.strip() == (
        "shopfloor: malformed database URL postgresql+asyncpg://...: its port is not a number"
    )


def test_a_host_name_that_does_not_resolve_exits_2(tmp_path: Path) -> None:
    done = shopfloor(
        tmp_path / "home", "postgresql+asyncpg://postgres@no-such-host.invalid/x", "runs"
    )
    assert done.returncode == EXIT_BAD_INPUT, done.stdout + done.stderr
    assert "cannot find host 'no-such-host.invalid'" in done.stderr


@pytest.mark.postgres
def test_a_database_that_does_not_exist_exits_2(tmp_path: Path, pg_url: str) -> None:
    missing = make_url(pg_url).set(database="no_such_shopfloor_db")
    url = missing.render_as_string(hide_password=False)
    done = shopfloor(tmp_path / "home", url, "status", "5e5e5e5e5e5e")
    assert done.returncode == EXIT_BAD_INPUT, done.stdout + done.stderr
    assert "there is no database 'no_such_shopfloor_db'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_sqlite_database_another_process_keeps_locked_exits_75(tmp_path: Path) -> None:
    """Past the busy timeout, "database is locked" is another process's lock, not a wrong
    path: the same command goes through once that process lets go."""
    db = tmp_path / "runs.db"
    made = shopfloor(tmp_path / "home", str(db), "db", "upgrade")
    assert made.returncode == 0, made.stderr
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("DELETE FROM events WHERE 0")  # takes the lock; changes nothing
        done = shopfloor(tmp_path / "home", str(db), "runs")
    finally:
        holder.close()
    assert done.returncode == EXIT_TRY_LATER, done.stdout + done.stderr
    assert done.stderr.strip().endswith("database is locked"), done.stderr
    assert shopfloor(tmp_path / "home", str(db), "runs").returncode == 0


@pytest.mark.postgres
async def test_what_a_command_reads_or_posts_after_the_database_went_away_is_a_try_later(
    empty_pg_url: str,
) -> None:
    """Opened, then cut off: ``status``, ``escalations``, ``approve`` and ``runs`` meet the
    outage in a read or a post rather than in the open, and say "try again later" as well."""
    proxy = await PgProxy(empty_pg_url).start()
    try:
        store = await SqlEventStore.open(proxy.url)
        try:
            await proxy.cut()
            reads = {
                "runs": store.list_runs(),
                "status": store.read("5e5e5e5e5e5e"),
                "escalations": store.open_escalations(),
                "approve": store.post_decision("5e5e5e5e5e5e", "e1", "approve", "human:me"),
                "waiting answers": store.waiting_decisions(),
                "leases": live_runs(store, ["5e5e5e5e5e5e"]),
            }
            for name, call in reads.items():
                with pytest.raises(DatabaseUnreachable):
                    await call
                    pytest.fail(f"{name} went through a database that is gone")
        finally:
            await store.close()
    finally:
        await proxy.close()


@pytest.mark.postgres
def test_a_url_requiring_ssl_of_a_server_without_it_exits_2(tmp_path: Path, pg_url: str) -> None:
    """asyncpg says so with a bare ConnectionError, as it does a connection lost in the
    handshake; this one is the URL's to fix, and trying again cannot help."""
    dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    if asyncio.run(_server_has_ssl(dsn)):
        pytest.skip("this PostgreSQL server speaks SSL")
    url = make_url(pg_url).update_query_dict({"sslmode": "require"})
    done = shopfloor(tmp_path / "home", url.render_as_string(hide_password=False), "runs")
    assert done.returncode == EXIT_BAD_INPUT, done.stdout + done.stderr
    assert "rejected SSL upgrade" in done.stderr


async def _server_has_ssl(dsn: str) -> bool:
    conn = await asyncpg.connect(dsn, timeout=5, ssl=False)
    try:
        return bool(await conn.fetchval("SHOW ssl") == "on")
    finally:
        await conn.close()


async def test_a_proxy_whose_server_is_down_exits_75(tmp_path: Path, closed_port: int) -> None:
    """A pooler or load balancer in front of a server not up yet accepts the connection and
    closes it: asyncpg's bare ConnectionError, which is an outage, not the URL's fault."""
    proxy = await PgProxy(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port}/x").start()
    try:
        done = await asyncio.to_thread(shopfloor, tmp_path / "home", proxy.url, "runs")
    finally:
        await proxy.close()
    assert done.returncode == EXIT_TRY_LATER, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@contextlib.asynccontextmanager
async def answering_ssl_request(reply: bytes) -> AsyncIterator[int]:
    """A loopback port whose server answers the client's SSLRequest with ``reply`` (a byte
    of the protocol: ``N`` no SSL here, ``E`` an error message in place of an answer)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(8)  # SSLRequest: length and code
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def test_a_server_that_says_no_to_ssl_the_url_requires_exits_2(tmp_path: Path) -> None:
    """The real-server test above skips where the server speaks SSL; this one always runs."""
    async with answering_ssl_request(b"N") as port:
        url = f"postgresql://postgres@127.0.0.1:{port}/x?sslmode=require"
        done = await asyncio.to_thread(shopfloor, tmp_path / "home", url, "runs")
    assert done.returncode == EXIT_BAD_INPUT, done.stdout + done.stderr
    assert done.stderr.strip().endswith(f'server at "127.0.0.1:{port}" rejected SSL upgrade')


async def test_a_server_that_sends_an_error_for_an_answer_to_ssl_exits_75(tmp_path: Path) -> None:
    """PostgreSQL answers an SSLRequest with an error only when it could not start a process
    for the connection (out of processes or memory): an outage. Its text has "SSL" in it
    ("server sent an error response during SSL exchange"), which was taken for a URL that
    asks for SSL the server does not have, and exited 2."""
    async with answering_ssl_request(b"E") as port:
        url = f"postgresql://postgres@127.0.0.1:{port}/x?sslmode=require"
        done = await asyncio.to_thread(shopfloor, tmp_path / "home", url, "runs")
    assert done.returncode == EXIT_TRY_LATER, done.stdout + done.stderr
    assert "server sent an error response during SSL exchange" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
