"""A SQLite database in a folder the user may not write: every command says what to do.

shopfloor keeps SQLite in WAL mode, and SQLite cannot read a WAL database without creating
its ``-wal`` and ``-shm`` files beside it; in a read-only folder (a read-only mount, a team's
folder one may only read) every command said only "unable to open database file". The
folder is made read-only with a bubblewrap bind mount (tests run as root, whom permission
bits do not stop), in the test's own mount namespace.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.bus import EventBus
from engine.events import RunStarted
from storage.store import SqlEventStore

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is missing")


def _read_only(folder: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``shopfloor ARGV`` with ``folder`` mounted read-only."""
    return subprocess.run(
        [
            "bwrap",
            *("--dev-bind", "/", "/"),
            *("--ro-bind", str(folder), str(folder)),
            *(sys.executable, "-m", "tui.cli", *argv),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def _seed(db: Path) -> None:
    async def go() -> None:
        started = RunStarted(
            request="add stock",
            repo="/repos/stock",
            base_branch="main",
            base_commit="0" * 40,
            integration_branch="shopfloor/r-ro",
        )
        async with await SqlEventStore.open(str(db)) as store:
            await store.append([EventBus("r-ro").emit(started)])

    asyncio.run(go())


@pytest.mark.parametrize("argv", [["runs"], ["status", "r-ro"], ["export", "r-ro"]])
def test_a_database_in_a_read_only_folder_says_the_folder_is_read_only(tmp_path, argv):
    folder = tmp_path / "team"
    db = folder / "shop.db"
    _seed(db)
    assert sorted(p.name for p in folder.iterdir()) == ["shop.db"]  # no -wal, no -shm left

    done = _read_only(folder, *argv, "--db", str(db))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        f"shopfloor: cannot open database sqlite+aiosqlite:///{db}: its folder {folder} is "
        "read-only, and SQLite must create shop.db-wal and shop.db-shm beside it to read a "
        "database in WAL mode; make the folder writable, or copy the database (with any "
        "shop.db-wal) to a folder you can write and use --db on the copy\n"
    )


def test_a_new_database_in_a_read_only_folder_says_so(tmp_path):
    folder = tmp_path / "team"
    folder.mkdir()
    done = _read_only(folder, "db", "upgrade", "--db", str(folder / "new.db"))
    assert done.returncode == 2
    assert done.stderr == (
        f"shopfloor: cannot create database sqlite+aiosqlite:///{folder / 'new.db'}: its "
        f"folder {folder} is read-only; use --db with a file in a folder you can write\n"
    )
