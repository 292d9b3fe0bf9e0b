"""Recon's repository map is made in a thread: on a big repository it reads every file."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from repo_helpers import make_repo

from engine.bus import EventBus
from engine.config import EngineConfig
from engine.mode_stages import run_recon
from engine.workspace import GitWorkspaces


async def test_recon_maps_the_repository_in_a_thread_while_the_loop_goes_on(
    tmp_path: Path,
) -> None:
    """The map reads every file (30 s on 7,800 files): the loop every agent, the merge queue
    and the event writer share must not wait for it."""
    repo = make_repo(tmp_path / "repo", {"pkg/core.py": "def greet():\n    return 1\n"})
    ws = GitWorkspaces(repo, "r-recon", tmp_path / "worktrees")
    await ws.start()
    ticks: list[int] = []
    loop_thread = threading.get_ident()

    def mapper(root: Path, files: Sequence[str]) -> str:
        assert threading.get_ident() != loop_thread
        start, deadline = len(ticks), time.monotonic() + 5
        while len(ticks) < start + 3 and time.monotonic() < deadline:  # the loop ticks on
            time.sleep(0.01)
        return f"mapped {len(files)} file(s), the loop ticked: {len(ticks) >= start + 3}"

    async def tick() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    try:
        _baseline, notes = await run_recon(
            bus=EventBus("r-recon"),
            workspaces=ws,
            config=EngineConfig(),
            repo_mapper=mapper,
            merge_gates=[],
            task_gates=[],
            verify_gates=[],
        )
    finally:
        ticker.cancel()
        await ws.cleanup()
    assert "mapped 1 file(s), the loop ticked: True" in notes
