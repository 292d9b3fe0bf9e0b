"""SVG snapshots of the control room's screens at 120x40 and at 80x24 (SSH-sized).

Regenerate with ``pytest tests/tui/test_tui_snapshot.py --snapshot-update`` only after
looking at the snapshot report; the baselines live in ``__snapshots__/``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
import sample_run
from textual.pilot import Pilot
from textual.widgets import DataTable

from engine.bus import EventBus
from engine.events import EventBase, Outcome
from storage.store import RunRecord
from tui.app import ShopfloorApp
from tui.messages import Decision
from tui.screens.runs import RunsScreen

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]


async def ignore(decision: Decision) -> None:
    return None


class History:
    """A fixed run history (the runs screen reads list_runs and read)."""

    def __init__(self) -> None:
        when = datetime(2026, 1, 2, 9, 30, tzinfo=UTC)
        self.records = [
            RunRecord(
                run_id=f"r-2026010{i}-{name}",
                request=request,
                repo="/srv/repos/hello",
                mode="create",
                branch=f"shopfloor/{name}" if outcome is Outcome.SHIPPED else None,
                integration_branch=f"shopfloor/{name}",
                outcome=outcome,
                reason="" if outcome is not Outcome.KILLED else "critic score 3.1 < 5",
                simulated=i % 2 == 1,
                tasks_total=tasks,
                tasks_merged=merged,
                created_at=when.replace(day=i),
                finished_at=None,
                last_seq=100 * i,
            )
            for i, name, request, outcome, tasks, merged in (
                (3, "greet", "Add a greeting command", Outcome.RUNNING, 3, 1),
                (2, "inventory", "Build an inventory CLI", Outcome.SHIPPED, 6, 6),
                (1, "crypto", "Add a crypto miner", Outcome.KILLED, 0, 0),
            )
        ]

    async def list_runs(self, limit: int = 100) -> list[RunRecord]:
        return self.records[:limit]

    async def read(self, run_id: str, after_seq: int = 0) -> list[EventBase]:
        return []


def make_app() -> tuple[ShopfloorApp, EventBus]:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"), on_decision=ignore, store=History())
    return app, bus


def fed(app: ShopfloorApp, bus: EventBus, *keys: str) -> Callable[[Pilot[None]], object]:
    async def run_before(pilot: Pilot[None]) -> None:
        sample_run.full_pipeline(bus)
        for _ in range(500):
            if app.state.last_seq >= bus.state.last_seq:
                break
            await asyncio.sleep(0.01)
        await pilot.pause(0.5)  # the panels redraw at most every 100 ms (margin for busy CI)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        if isinstance(app.screen, RunsScreen):  # the history loads in a worker
            table = app.screen.query_one(DataTable)
            for _ in range(500):
                if table.row_count == 3:
                    break
                await asyncio.sleep(0.01)
            await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_main_screen(snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    app, bus = make_app()
    # t2 selected: the failing task with the tripped breaker.
    assert snap_compare(app, terminal_size=size, run_before=fed(app, bus, "j"))


@pytest.mark.parametrize("size", SIZES)
def test_escalation_modal(snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    app, bus = make_app()
    assert snap_compare(app, terminal_size=size, run_before=fed(app, bus, "e"))


@pytest.mark.parametrize("size", SIZES)
def test_task_detail(snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    app, bus = make_app()
    assert snap_compare(app, terminal_size=size, run_before=fed(app, bus, "j", "enter"))


@pytest.mark.parametrize("size", SIZES)
def test_runs_screen(snap_compare: Callable[..., bool], size: tuple[int, int]) -> None:
    app, bus = make_app()
    assert snap_compare(app, terminal_size=size, run_before=fed(app, bus, "R"))
