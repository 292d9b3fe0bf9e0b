"""A request file's leading Markdown heading is the run's title where a run is named on one
line: the headless started line, ``runs`` and ``status``. Before, they showed "# Add …"."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from test_plan_view import RUN_ID, db, started, store

from engine import loop as event_loop
from engine.bus import EventBus
from engine.state import RunState
from tui.cli import main
from tui.headless import ConsoleReporter
from tui.widgets.run_header import header_text

__all__ = ["db"]  # the fixture, shared

HEADED = "# Add unique_slugify\n\nAdd unique_slugify(text, taken) to the slug module."


def test_the_started_line_titles_the_run_by_its_heading() -> None:
    console = Console(file=io.StringIO(), width=200)
    reporter = ConsoleReporter(EventBus("r").subscribe("console"), console, show_time=False)
    reporter.report(started().model_copy(update={"request": HEADED, "run_id": RUN_ID}))
    (line,) = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert line.startswith(f" SIM  run {RUN_ID} started (create): Add unique_slugify…  repo ")


def test_runs_and_status_title_the_run_by_its_heading(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # wide enough for runs to show the request
    event_loop.run(store(db, [started().model_copy(update={"request": HEADED})]))
    assert main(["runs", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "Add unique_slugify" in out and "#" not in out
    assert main(["status", RUN_ID, "--db", str(db)]) == 0
    assert "request: Add unique_slugify\n" in capsys.readouterr().out


def test_the_control_rooms_header_titles_the_run_by_its_heading() -> None:
    state = RunState.fold([started().model_copy(update={"request": HEADED, "run_id": RUN_ID})])
    header = header_text(state).plain
    assert header.endswith("│ Add unique_slugify"), header
    plain = RunState.fold([started().model_copy(update={"request": "Add x\nto y", "run_id": "r"})])
    assert header_text(plain).plain.endswith("│ Add x to y")
