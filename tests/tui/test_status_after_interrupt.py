"""``status`` says a run was interrupted when its process stopped it cleanly.

In tmux, Ctrl-C in the control room stopped the run gracefully (as headless Ctrl-C does:
attempts let go, the events stored, resumable), yet ``shopfloor status`` said "no process
drives this run any more (stopped by a signal or a crash)": neither stop left a word in
the log, which ended as a crash's does. The graceful stop now ends it with RunInterrupted;
a log that just ends keeps "a signal or a crash".
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from engine.events import RunInterrupted, Stage
from storage.store import SqlEventStore
from tui.app import ShopfloorApp
from tui.cli import main


def demo_stopped_by_ctrl_c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo in the control room (a pilot's), Ctrl-C once its build is under way; the
    database it wrote."""

    async def drive(app: ShopfloorApp) -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(3000):
                if app.state.stage is Stage.BUILD and app.state.tasks:
                    break
                await pilot.pause(0.01)
            assert app.state.stage is Stage.BUILD
            await pilot.press("ctrl+c")
            await pilot.pause()

    monkeypatch.setattr(ShopfloorApp, "run_async", drive)
    monkeypatch.setattr("tui.commands.terminal.on_a_terminal", lambda: True)  # a pilot's
    db = tmp_path / "runs.db"
    argv = ["demo", "--tui", "--speed", "200", "--escalations", "twin"]
    code = main([*argv, "--out", str(tmp_path / "demo"), "--db", str(db)])
    assert code == 130
    return db


async def stored_run(db: Path) -> tuple[str, list[str]]:
    async with await SqlEventStore.open(str(db)) as store:
        (run,) = await store.list_runs()
        return run.run_id, [type(event).__name__ for event in await store.read(run.run_id)]


def status_line(db: Path, run_id: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["status", run_id, "--db", str(db)]) == 0
    (line,) = [ln for ln in capsys.readouterr().out.splitlines() if "shopfloor resume" in ln]
    return line


def test_status_says_interrupted_after_ctrl_c_and_a_signal_or_a_crash_for_a_log_that_ends(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C in the control room: ``status`` says the run was interrupted; the same log
    without its RunInterrupted (as a kill -9 leaves it) still says "a signal or a crash".
    One demo (~7 s) for both: the second log is the first less one row."""
    db = demo_stopped_by_ctrl_c(tmp_path, monkeypatch)
    run_id, logged = asyncio.run(stored_run(db))
    assert logged[-1] == RunInterrupted.__name__ and "RunFinished" not in logged
    line = status_line(db, run_id, capsys)
    assert line.startswith("the run was interrupted at ")
    assert "stopped cleanly" in line and "a signal or a crash" not in line
    assert f"`shopfloor resume {run_id} --db {db}` carries it on" in line

    with contextlib.closing(sqlite3.connect(db)) as conn, conn:  # as a kill -9 leaves it
        conn.execute("DELETE FROM events WHERE type = 'RunInterrupted'")
    line = status_line(db, run_id, capsys)
    assert line.startswith("no process drives this run any more (stopped by a signal or a crash)")
