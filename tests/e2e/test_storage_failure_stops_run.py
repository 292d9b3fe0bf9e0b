"""A database that starts refusing events mid-run stops the run with one line; nothing hangs.

The refusal is real: a SQLite trigger aborts every insert once the run has stored a few
events (as a revoked grant or a constraint would), so the storage writer process meets it
where it would meet the real thing. Waiting will not change a trigger: the run stops at once
with exit code 1, not 75 (EX_TEMPFAIL, which an outage or a full disk gets: a systemd unit
restarts on it, and would every 10 s for ever here), and what was stored keeps it resumable
once the database is fixed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from storage.store import SqlEventStore
from tui.app import ShopfloorApp
from tui.cli import main
from tui.commands.exit_codes import EXIT_FAILED

pytestmark = pytest.mark.e2e


def test_a_failing_database_stops_the_run_instead_of_hanging(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    share_gate_cache: Callable[[Path], None],
) -> None:
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    share_gate_cache(tmp_path / "home")  # the gates' verdicts are not what this is about
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
    assert main(demo) == EXIT_FAILED  # for good: 75 would have a unit try again, 2 is bad input
    run_id = assert_stopped_in_one_line(capsys, db)

    # The trigger is dropped; the command the line gave carries the run on to the end.
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER disk_full")
    assert main(["resume", run_id, "--headless", "--db", url]) == 0
    with sqlite3.connect(db) as conn:
        seqs = [row[0] for row in conn.execute("SELECT seq FROM events ORDER BY seq")]
        outcome = conn.execute("SELECT outcome FROM runs").fetchone()[0]
    assert seqs == list(range(1, len(seqs) + 1))  # nothing lost, nothing stored twice
    assert outcome == "shipped"


def test_in_the_tui_a_refusing_database_is_said_on_leaving_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The TUI shows the failure; quitting it then says why the run stopped and exits 1,
    not 130 and "interrupted" as if the person had stopped it."""
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    db = tmp_path / "db.sqlite"
    url = f"sqlite+aiosqlite:///{db}"
    asyncio.run(migrate(url))
    fill_up(db)
    run_async = ShopfloorApp.run_async

    async def quit_once_it_failed(pilot: Pilot[int]) -> None:
        app = pilot.app
        assert isinstance(app, ShopfloorApp)
        for _ in range(600):
            if app.run_error is not None:
                break
            await asyncio.sleep(0.05)
        await pilot.press("q")  # the person read the toast and leaves

    async def headless(self: ShopfloorApp, **_: object) -> int | None:
        return await run_async(self, headless=True, size=(120, 40), auto_pilot=quit_once_it_failed)

    monkeypatch.setattr(ShopfloorApp, "run_async", headless)
    monkeypatch.setattr("tui.commands.terminal.on_a_terminal", lambda: True)  # a pilot's
    demo = ["demo", "--tui", "--speed", "200", "--out", str(tmp_path / "repo"), "--db", url]
    assert main(demo) == EXIT_FAILED
    assert_stopped_in_one_line(capsys, db)


async def migrate(url: str) -> None:
    await (await SqlEventStore.open(url)).close()


def fill_up(db: Path) -> None:
    """From its 20th event on, the database refuses every insert (a trigger)."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER disk_full BEFORE INSERT ON events"
            " WHEN (SELECT count(*) FROM events) >= 20"
            " BEGIN SELECT RAISE(ABORT, 'disk full (injected)'); END"
        )


def assert_stopped_in_one_line(capsys: pytest.CaptureFixture[str], db: Path) -> str:
    """The run's id, from the one line that says how to carry it on."""
    err = capsys.readouterr().err.strip()
    assert "\n" not in err  # one line, no traceback
    assert err.startswith(
        "shopfloor: the run stopped because the database refuses its events, which waiting "
        "will not change: cannot write events: disk full (injected)"
    )
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        (run_id,) = conn.execute("SELECT run_id FROM runs").fetchone()
    assert 0 < stored <= 20  # what was stored before the refusal stays: the run can resume
    assert err.endswith(f"then `shopfloor resume {run_id} --db {db}` carries the run on")
    return str(run_id)


def test_a_refused_last_batch_lets_the_run_go_so_its_resume_in_this_process_ships(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    share_gate_cache: Callable[[Path], None],
) -> None:
    """The run's work done, its last batch (the RunFinished) refused: the line raised after
    the run skipped letting its lease go, and the resume the line names, from this process
    (a TUI left open), was refused as "still running" naming this very process."""
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    share_gate_cache(tmp_path / "home")  # the gates' verdicts are not what this is about
    db = tmp_path / "db.sqlite"
    url = f"sqlite+aiosqlite:///{db}"
    asyncio.run(migrate(url))
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER no_ending BEFORE INSERT ON events WHEN NEW.type = 'RunFinished'"
            " BEGIN SELECT RAISE(ABORT, 'disk full (injected)'); END"
        )
    demo = ["demo", "--headless", "--speed", "200", "--out", str(tmp_path / "repo"), "--db", url]
    assert main(demo) == EXIT_FAILED
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "refuses its events" in err
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TRIGGER no_ending")
        (run_id,) = conn.execute("SELECT run_id FROM runs").fetchone()
    assert main(["resume", run_id, "--headless", "--db", url]) == 0, capsys.readouterr().err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT outcome FROM runs").fetchone()[0] == "shipped"
