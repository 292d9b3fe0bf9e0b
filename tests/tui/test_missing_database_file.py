"""A database named by ``--db`` or $SHOPFLOOR_DB that does not exist is said, not made.

An operator on a team typed ``shopfloor runs --db trial113`` (the PostgreSQL database's name,
not its URL), or mistyped a SQLite file's name: the command made an empty SQLite file of
that name in the current folder and said "no runs yet" (exit 0); ``status`` said "no run
matches". Commands that read a database now refuse a missing file in one line (exit 2),
creating nothing; ``run``, ``demo``, ``import``, ``db upgrade`` and ``serve-metrics`` still
create it, and the data folder's default database is made as before.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_in_memory_db import COMMANDS, place

from tui.cli import main

__all__ = ["place"]  # the fixture

CREATE = {"demo", "run", "serve-metrics", "import", "upgrade"}
"""Commands that make the database they are given (a run, an import, a schema upgrade; a
metrics server started before the first run)."""

READERS = [argv for argv in COMMANDS if not CREATE & set(argv)]


@pytest.mark.parametrize("argv", READERS, ids=lambda argv: " ".join(argv))
def test_a_command_that_reads_refuses_a_missing_database_file(
    argv: list[str], place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--db", "trial113"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"shopfloor: --db trial113: no database at {place / 'trial113'} (a plain path names "
        "a SQLite file; a PostgreSQL database is postgresql+asyncpg://user@host/db); "
        "`shopfloor run` or `shopfloor db upgrade` creates one"
    ]
    assert sorted(p.name for p in place.iterdir()) == []


def test_shopfloor_db_naming_a_missing_file_is_refused_too(
    place: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHOPFLOOR_DB", f"sqlite+aiosqlite:///{place}/facotry.db")
    assert main(["status", "81205d25"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"shopfloor: $SHOPFLOOR_DB=sqlite+aiosqlite:///{place}/facotry.db: ")
    assert not (place / "facotry.db").exists()


def test_the_data_folders_database_and_an_existing_file_are_read_as_before(
    place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs"]) == 0  # a first command on a new machine: nothing to list yet
    assert capsys.readouterr().out.strip() == "no runs yet"
    assert main(["db", "upgrade", "--db", "team.db"]) == 0  # made on purpose
    capsys.readouterr()
    assert main(["runs", "--db", "team.db"]) == 0
    assert capsys.readouterr().out.strip() == "no runs yet"
