"""The runs table ends a long request with '…', counting cells.

A request was cut at 70 characters without a sign that more followed, and a Japanese one
(two cells a character) took 140 cells, pushing the table past an 80-column screen.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text

from engine.events import Outcome
from storage.store import RunRecord
from tui.screens.runs import REQUEST_CELLS, run_row


def record(request: str) -> RunRecord:
    return RunRecord(
        run_id="r-1",
        request=request,
        repo="/srv/repos/hello",
        mode="create",
        branch=None,
        integration_branch="shopfloor/hello",
        outcome=Outcome.RUNNING,
        reason="",
        simulated=True,
        tasks_total=3,
        tasks_merged=1,
        created_at=datetime(2026, 1, 2, 9, 30, tzinfo=UTC),
        finished_at=None,
        last_seq=10,
    )


def request_cell(request: str) -> Text:
    cell = run_row(record(request))[-1]
    assert isinstance(cell, Text)
    return cell


def test_a_long_request_ends_with_an_ellipsis_within_the_column() -> None:
    long = "Build a small inventory library for our workshop's stock room, in Python " * 2
    cell = request_cell(long)
    assert cell.cell_len == REQUEST_CELLS and cell.plain.endswith("…")
    assert long.startswith(cell.plain[:-1])


def test_a_wide_request_is_cut_by_cells() -> None:
    cell = request_cell("在庫管理ライブラリを作る" * 10)
    assert cell.cell_len <= REQUEST_CELLS and cell.plain.endswith("…")


def test_a_request_that_fits_is_whole() -> None:
    assert request_cell("Add a greeting command").plain == "Add a greeting command"
    exact = "x" * REQUEST_CELLS
    assert request_cell(exact).plain == exact
