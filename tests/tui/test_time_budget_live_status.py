"""``status`` of a run a process drives says the time driven up to now, not to its last
event: a run that waits all night on a person's answer logs nothing meanwhile, and status
said "1h driven" of its 8h until the answer, when it was at once over its time budget."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_plan_view import RUN_ID, started

from engine.bus import EventBus
from engine.events import BudgetLimitsSet, StageChanged
from storage.lease import RunLease
from storage.store import SqlEventStore
from tui.cli import main


async def test_a_driven_run_s_time_runs_on_between_its_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "runs.db")
    began = datetime.now(UTC) - timedelta(hours=3)
    bus = EventBus(RUN_ID, clock=lambda: began)
    events = [bus.emit(started()), bus.emit(BudgetLimitsSet(max_duration_s=8 * 3600))]
    bus.clock = lambda: began + timedelta(hours=1)  # its last event: an hour in
    events.append(bus.emit(StageChanged(stage="review")))
    async with await SqlEventStore.open(db) as store:
        await store.append(events)

    async def said(*flags: str) -> str:
        capsys.readouterr()  # the command runs its own loop: in a thread, beside this one
        assert await asyncio.to_thread(main, ["status", RUN_ID, "--db", db, *flags]) == 0
        return capsys.readouterr().out

    # Stopped (a crash: no process drives it): its time ends at its last event.
    assert json.loads(await said("--json"))["budget"]["duration_s"] == 3600
    async with await SqlEventStore.open(db) as store:
        lease = await RunLease.take(store, RUN_ID)  # a process drives it, waiting on a person
        try:
            report = json.loads(await said("--json"))
            text = await said()
        finally:
            await lease.release()
    assert 3 * 3600 <= report["budget"]["duration_s"] < 3 * 3600 + 60
    assert "budget: run 8h of time (3h" in text, text  # "(1h driven)" to its last event
