"""A SQLite database whose lease folder this user cannot look into: one line, not a traceback.

A run's process makes ``<database>.leases/`` with mode 0700, so on a database another user's
runs use (or one copied with its folder from elsewhere), ``runs`` and ``status`` could not
tell a live run from a stopped one: they ended in a PermissionError traceback. The refusal
is permanent (waiting does not change a folder's owner), so it is exit 2, not 75.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.bus import EventBus
from engine.events import EventBase
from storage.lease import RunLease
from storage.store import SqlEventStore
from tui.commands.exit_codes import EXIT_BAD_INPUT

ROOT = Path(__file__).resolve().parents[2]


def unprivileged(argv: list[str]) -> list[str]:
    """``argv`` run without the rights that ignore file modes: root keeps its uid (it owns
    the files) but loses its capabilities, as another user would have none over them."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root without setpriv reads every folder whatever its mode")
    return [setpriv, "--bounding-set=-all", "--", *argv]


@pytest.fixture
def closed_leases(
    db_url: str, db_path: Path, emit_little_run: Callable[[EventBus], list[EventBase]]
) -> Iterator[Path]:
    """A database with a stopped run (started, never finished), whose lease folder nobody
    but root's capabilities can read."""

    async def seed() -> None:
        async with await SqlEventStore.open(db_url) as store:
            await store.append(emit_little_run(EventBus("r-one"))[:3])
            await (await RunLease.take(store, "r-one")).release()

    asyncio.run(seed())
    folder = db_path.with_name(db_path.name + ".leases")
    folder.chmod(0)
    try:
        yield folder
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("command", [["runs"], ["status", "r-one"], ["runs", "--json"]])
def test_a_lease_folder_that_cannot_be_read_is_one_line(
    closed_leases: Path, db_path: Path, tmp_path: Path, command: list[str]
) -> None:
    env = {**os.environ, "SHOPFLOOR_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    argv = [sys.executable, "-m", "tui.cli", *command, "--db", str(db_path)]
    done = subprocess.run(
        unprivileged(argv), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == EXIT_BAD_INPUT, done.stderr
    assert done.stderr.strip() == (
        f"shopfloor: cannot read the runs' leases in {closed_leases}: Permission denied"
    )
