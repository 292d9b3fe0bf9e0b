"""Reading a run whose log its SQLite database lost says so, and what brings it back.

A run's database file deleted under it (or a new, empty one made in its place, as the data
folder's default database is): ``resume``/``status`` said "no database at P; `shopfloor run`
or `shopfloor db upgrade` creates one" — after which they said "no run matches", as they did
at once on a new database — advice that led nowhere. The run's lease file, left beside the
database, says a process drove it there, so the line says the log is gone: a backup, or an
export imported into a new database, is what brings it back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from test_refused_writes_stop_the_run import delete_the_file

from engine.bus import EventBus
from engine.events import EventBase
from storage.errors import LOG_GONE_REMEDY
from storage.lease import RunLease
from storage.store import SqlEventStore
from tui.cli import main


@pytest.fixture
def lost(
    db_url: str, db_path: Path, emit_little_run: Callable[[EventBus], list[EventBase]]
) -> Path:
    """A database that held a stopped run ``r-lost`` (its lease released), then deleted."""

    async def seed() -> None:
        async with await SqlEventStore.open(db_url) as store:
            await store.append(emit_little_run(EventBus("r-lost"))[:3])
            await (await RunLease.take(store, "r-lost")).release()

    asyncio.run(seed())
    delete_the_file(db_path)
    return db_path.with_name(db_path.name + ".leases")


@pytest.mark.parametrize("command", ["resume", "status"])
def test_a_deleted_database_file_says_the_log_is_gone(
    lost: Path, db_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "r-lost", "--db", str(db_path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"shopfloor: --db {db_path}: no database at {db_path}, though runs were driven on one "
        f"there (their leases are in {lost}): it was deleted or moved; {LOG_GONE_REMEDY}"
    ]


@pytest.mark.parametrize("ref", ["r-lost", "r-lo"])
def test_a_new_database_in_its_place_says_the_log_is_gone(
    lost: Path, db_url: str, db_path: Path, ref: str, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_made(db_url))
    assert main(["resume", ref, "--db", str(db_path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"shopfloor: no run matches {ref!r}, though run r-lost was driven on this database "
        f"(its lease is in {lost}): its log is not in it any more; {LOG_GONE_REMEDY}"
    ]
    assert main(["resume", "r-other", "--db", str(db_path)]) == 2  # a typo stays a typo
    assert capsys.readouterr().err.splitlines() == ["shopfloor: no run matches 'r-other'"]


@pytest.mark.parametrize("command", ["resume", "status", "runs"])
def test_a_database_file_replaced_by_no_database_says_the_log_is_gone(
    lost: Path, db_url: str, db_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Overwritten by something that is no database (a restore gone wrong): "use --db with a
    database file or a new path" is the advice for a typo, and led nowhere here."""
    db_path.write_bytes(b"not a database\n" * 4096)
    assert main([command, *(["r-lost"] if command != "runs" else []), "--db", str(db_path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"shopfloor: cannot open database {db_url}: {db_path} is not a SQLite database any "
        f"more, though runs were driven on one there (their leases are in {lost}): it was "
        f"overwritten or replaced; {LOG_GONE_REMEDY}"
    ]
    other = db_path.with_name("notes.txt")  # a typo in --db stays a typo
    other.write_bytes(b"not a database\n")
    assert main([command, *(["r-lost"] if command != "runs" else []), "--db", str(other)]) == 2
    assert capsys.readouterr().err.endswith(
        "is not a SQLite database; use --db with a database file or a new path\n"
    )


async def _made(url: str) -> None:
    """A new database at ``url``, as the data folder's default is made when missing."""
    await (await SqlEventStore.open(url)).close()


@pytest.mark.parametrize("ref", ["", "  "])
def test_no_run_id_is_not_taken_for_a_lost_log(
    db_url: str,
    db_path: Path,
    emit_little_run: Callable[[EventBus], list[EventBase]],
    ref: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`status "$RUN"` with the variable unset: an empty id is the prefix of every lease, so
    the one run this database drove was said to have lost its log — while its log was there."""

    async def seed() -> None:
        async with await SqlEventStore.open(db_url) as store:
            await store.append(emit_little_run(EventBus("r-kept"))[:3])
            await (await RunLease.take(store, "r-kept")).release()

    asyncio.run(seed())
    assert main(["status", ref, "--db", str(db_path)]) == 2
    assert capsys.readouterr().err.splitlines() == ["shopfloor: no run id given"]
    assert main(["status", "r-kept", "--db", str(db_path)]) == 0  # the log is all there
