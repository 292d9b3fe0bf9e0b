"""A real ``shopfloor demo`` whose database starts refusing its events mid-run.

Shared by the tests of refusals that waiting does not cure (a revoked privilege, a dropped
table, a trigger): each runs the demo, refuses once it stored 30 events, and checks how the
run stopped.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

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
