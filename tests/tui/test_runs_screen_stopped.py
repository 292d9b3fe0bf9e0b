"""The runs screen says "stopped" for an unfinished run no process drives, as ``runs`` does.

It said "running" for a run whose process was killed days ago, and opening it showed a
header saying "running" over a log that never moved.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pilot_helpers import until
from test_plan_view import RUN_ID, started
from test_tui_plain_text import SIZE, ignore, shown_text
from textual.widgets import DataTable

from engine.bus import EventBus
from storage.lease import RunLease
from storage.store import SqlEventStore
from tui import driver_watch
from tui.app import ShopfloorApp
from tui.screens.run import RunScreen
from tui.screens.runs import RunsScreen


def row_of(app: ShopfloorApp) -> str:
    table = app.screen.query_one(DataTable)
    return " ".join(str(cell) for cell in table.get_row_at(0))


async def test_an_unfinished_run_nobody_drives_is_stopped_and_opens_as_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(driver_watch, "DRIVER_POLL_S", 0.05)
    async with await SqlEventStore.open(str(tmp_path / "runs.db")) as store:
        await store.append([EventBus(RUN_ID).emit(started())])
        app = ShopfloorApp(EventBus("here").subscribe("tui"), on_decision=ignore, store=store)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("R")
            assert isinstance(app.screen, RunsScreen)
            table = app.screen.query_one(DataTable)
            await until(lambda: table.row_count == 1, pilot)
            assert "stopped SIM" in row_of(app) and "running" not in row_of(app)

            await pilot.press("enter")
            await until(lambda: isinstance(app.screen, RunScreen), pilot)
            await until(lambda: RUN_ID in shown_text(app), pilot)
            assert "stopped: no process drives it" in shown_text(app)
            await pilot.press("escape")

            lease = await RunLease.take(store, RUN_ID)  # resumed by another process
            try:
                await pilot.press("g")
                await until(lambda: "running SIM" in row_of(app), pilot)
                await pilot.press("enter")
                await until(lambda: isinstance(app.screen, RunScreen), pilot)
                await until(lambda: RUN_ID in shown_text(app), pilot)
                assert "stopped" not in shown_text(app)
                await lease.release()  # that process is killed while this view follows it
                await until(lambda: "stopped: no process drives it" in shown_text(app), pilot)
            finally:
                await lease.release()
