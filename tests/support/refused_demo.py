"""A real ``shopfloor demo`` whose database starts refusing its events mid-run.

Shared by the tests of refusals that waiting does not cure (a revoked privilege, a dropped
table, a trigger): each runs the demo, refuses once it stored 30 events, and checks how the
run stopped.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from engine.bus import EventBus
from engine.events import AgentOutput
from storage.store import SqlEventStore
from storage.writer import StorageWriter
from tui.config import OUTAGE_ENV

ROOT = Path(__file__).resolve().parents[2]
WINDOW_S = 20.0
"""The runs' outage window: a refusal must not wait it out."""


async def demo_cut_off(
    tmp_path: Path,
    url: str,
    stored: Callable[[], Awaitable[int]],
    refuse: Callable[[], Awaitable[None]],
) -> tuple[int, list[str], float]:
    """Run ``shopfloor demo`` on ``url``; once it stored 30 events, ``refuse``. Its exit
    code, its stderr's lines and how long it took to stop after the refusal. (The SIM at
    1000 times its pace: its latencies are not what these tests are about.)"""
    env = {**os.environ, "SHOPFLOOR_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    env[OUTAGE_ENV] = str(WINDOW_S)
    demo = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tui.cli", "demo", "--headless", "--speed", "1000"),
        *("--out", str(tmp_path / "repo"), "--db", url),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while await stored() < 30:
            assert demo.returncode is None and time.monotonic() < deadline, "no 30 events"
            await asyncio.sleep(0.02)
        await refuse()
        refused_at = time.monotonic()
        _, err = await asyncio.wait_for(demo.communicate(), WINDOW_S + 30)
    finally:
        if demo.returncode is None:
            demo.kill()
            await demo.wait()
    assert demo.returncode is not None
    return demo.returncode, err.decode().strip().splitlines(), time.monotonic() - refused_at


@asynccontextmanager
async def writer_refused(
    db: Path, refusal: str, run_id: str
) -> AsyncIterator[tuple[StorageWriter, asyncio.Task[None]]]:
    """In process: a writer on the SQLite file ``db`` after ``refusal`` (SQL run on another
    connection), with one event to write; the writer and its running task."""
    store = await SqlEventStore.open(str(db))
    try:
        with sqlite3.connect(db) as conn:
            conn.execute(refusal)
        bus = EventBus(run_id)
        writer = StorageWriter(store, bus.subscribe("storage"), outage_s=WINDOW_S)
        writing = asyncio.create_task(writer.run())
        bus.emit(AgentOutput(agent_id="eng-1", text="hello"))
        yield writer, writing
    finally:
        await store.close()
