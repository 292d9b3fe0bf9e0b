"""A database that starts refusing events mid-run stops the run with one line; nothing hangs.

The refusal is real: a SQLite trigger aborts every insert once the run has stored a few
events (as a full disk or a revoked grant would), so the storage writer process meets it
where it would meet the real thing. The run failed in this process (exit code 1, as the
README says); it is not bad input (2), and what was stored keeps it resumable.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from storage.store import SqlEventStore
from tui.cli import main

pytestmark = pytest.mark.e2e


def test_a_failing_database_stops_the_run_instead_of_hanging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    db = tmp_path / "db.sqlite"
    url = f"sqlite+aiosqlite:///{db}"

    async def migrate() -> None:
        await (await SqlEventStore.open(url)).close()

    asyncio.run(migrate())  # migrated, then the disk "fills up"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER disk_full BEFORE INSERT ON events"
            " WHEN (SELECT count(*) FROM events) >= 20"
            " BEGIN SELECT RAISE(ABORT, 'disk full (injected)'); END"
        )
    demo = ["demo", "--headless", "--speed", "200", "--out", str(tmp_path / "repo"), "--db", url]
    assert main(demo) == 1  # the run failed here; 2 would say the input was wrong
    err = capsys.readouterr().err.strip()
    assert "\n" not in err  # one line, no traceback
    assert err.startswith("shopfloor: the run stopped because its events could not be stored")
    assert "disk full (injected)" in err
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    assert 0 < stored <= 20  # what was stored before the refusal stays: the run can resume
