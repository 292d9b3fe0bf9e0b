"""An in-memory SQLite database is refused by every command that takes ``--db``.

Before, ``shopfloor demo --db sqlite://`` ran the whole factory (its storage writer kept in
the run's process) and kept nothing: the run could not be resumed, and ``status``, ``attach``
or ``approve`` from another shell never saw it; ``--db :memory:`` quietly made a file named
``:memory:`` in the current folder. Now each command says in one line why such a database is
no use and what to give instead, before doing anything (a demo makes no repository). The
store itself still opens one: the storage tests use it.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import loop as event_loop
from tui.cli import build_parser, main

IN_MEMORY = [
    "sqlite://",
    "sqlite:///:memory:",
    "sqlite+aiosqlite://",
    "sqlite+aiosqlite:///:memory:",
    " :memory: ",
    "sqlite+aiosqlite:///file::memory:?cache=shared&uri=true",
    "sqlite:///file:shop?mode=memory&cache=shared&uri=true",
]


def commands_with_db(parser: argparse.ArgumentParser, words: list[str]) -> Iterator[list[str]]:
    """Each (sub-)command that has ``--db``, with a placeholder for its required arguments."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if subs:
        for name, child in subs[0].choices.items():
            yield from commands_with_db(child, [*words, name])
        return
    if not any("--db" in a.option_strings for a in parser._actions):
        return
    argv = list(words)
    for action in parser._actions:
        if action.required and not action.option_strings:
            argv.append("30d")
        elif action.required:
            argv += [action.option_strings[-1], "30d"]
    yield argv


COMMANDS = [
    ["demo"],
    ["run", "--repo", "30d"],
    ["runs"],
    ["status", "30d"],
    ["escalations"],
    ["answer", "30d", "30d"],
    ["approve", "30d"],
    ["reject", "30d"],
    ["change", "30d", "--note", "30d"],
    ["serve-metrics"],
    ["resume", "30d"],
    ["abandon", "30d"],
    ["attach", "30d"],
    ["tail", "30d"],
    ["db", "upgrade"],
    ["db", "rebuild"],
    ["db", "prune", "--older-than", "30d"],
    ["export", "30d"],
    ["import", "30d"],
    ["learnings", "list"],
    ["learnings", "show", "30d"],
    ["learnings", "prune", "30d"],
]
"""Each command with ``--db`` and its required arguments ("30d" fits every one of them)."""


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHOPFLOOR_DB", raising=False)
    monkeypatch.delenv(event_loop.LOOP_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_command_with_a_database_is_covered() -> None:
    assert list(commands_with_db(build_parser(), [])) == COMMANDS


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv))
def test_each_command_refuses_an_in_memory_database(
    argv: list[str], place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if argv[0] == "run":  # a missing request or repository is refused first (and cheaper)
        argv = ["run", "Add a unit", "--repo", str(place)]
    assert main([*argv, "--db", "sqlite://"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "shopfloor: --db sqlite:// is an in-memory database, which keeps nothing after this "
        "process (no resume; status, attach and approve in another shell see nothing); give a "
        "database file (e.g. --db runs.db) or postgresql+asyncpg://user@host/db"
    ]
    assert sorted(p.name for p in place.iterdir()) == []  # no demo repository, no data home


@pytest.mark.parametrize("url", IN_MEMORY)
def test_every_spelling_of_in_memory_is_refused(
    url: str, place: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--db", url]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"shopfloor: --db {url.strip()} is an in-memory database")
    assert sorted(p.name for p in place.iterdir()) == []  # not even a file named ":memory:"


def test_an_in_memory_shopfloor_db_is_refused_too(
    place: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHOPFLOOR_DB", "sqlite:///:memory:")
    assert main(["runs"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("shopfloor: $SHOPFLOOR_DB=sqlite:///:memory: is an in-memory database")


def test_a_database_file_is_still_fine(place: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Named like the in-memory spellings, but files: these keep their runs."""
    for name in ("memory.db", "file-memory.db"):
        assert main(["db", "upgrade", "--db", name]) == 0
        capsys.readouterr()
        assert main(["runs", "--db", name]) == 0
        assert capsys.readouterr().out.strip() == "no runs yet"
        assert (place / name).is_file()
