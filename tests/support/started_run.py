"""A database holding one run that logged its start and nothing else, for the commands that
read a run another process left (``status``, ``attach``) to be tried on."""

from __future__ import annotations

from pathlib import Path

from engine.bus import EventBus
from engine.events import RunStarted
from storage.store import SqlEventStore


async def store_started_run(db: Path, run_id: str, request: str = "Build a stock ledger") -> None:
    """Append to the SQLite file ``db`` (made if missing) the RunStarted of the simulated run
    ``run_id`` of ``request`` on ``/srv/repos/stock``."""
    started = RunStarted(
        request=request,
        repo="/srv/repos/stock",
        base_branch="main",
        base_commit="0" * 40,
        integration_branch=f"shopfloor/wip/{run_id}",
        simulated=True,
    )
    async with await SqlEventStore.open(str(db)) as opened:
        await opened.append([EventBus(run_id).emit(started)])
