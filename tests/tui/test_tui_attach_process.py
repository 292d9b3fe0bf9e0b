"""``shopfloor attach`` across processes: a headless run waits on its escalation in one
process; the control room, attached from this one, approves with a key press; the run ships
with the decision recorded as a human's."""

from __future__ import annotations

import asyncio
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.events import Outcome
from engine.state import RunState
from storage.store import SqlEventStore
from tui.app import ShopfloorApp
from tui.decision_delivery import storage_decider
from tui.screens.escalation import EscalationScreen
from tui.stored_feed import tail_store

pytestmark = pytest.mark.e2e


async def wait_for(predicate, limit_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def test_a_tui_attached_from_another_process_approves_a_headless_run(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    home = tmp_path / "home"
    share_gate_cache(home)
    db = home / "shopfloor.db"
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "NO_COLOR": "1"}
    env.pop("SHOPFLOOR_DB", None)
    out = (tmp_path / "run.out").open("wb")  # a file, not a pipe: nothing may block the run
    err = (tmp_path / "run.err").open("wb")
    run = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tui.cli",
        "demo",
        "--headless",
        "--escalations",
        "wait",
        "--speed",
        "50",
        "--out",
        str(tmp_path / "repo"),
        "--log-format",
        "json",
        env=env,
        stdout=out,
        stderr=err,
        stdin=asyncio.subprocess.DEVNULL,
    )
    store: SqlEventStore | None = None
    try:

        async def stored() -> bool:
            return db.exists()

        await wait_for(stored, 60, "the run's database")
        store = await SqlEventStore.open(f"sqlite+aiosqlite:///{db}")

        async def started() -> bool:
            assert store is not None
            return bool(await store.list_runs())

        await wait_for(started, 60, "the run to start")
        run_id = (await store.list_runs())[0].run_id
        app = ShopfloorApp(
            tail_store(store, run_id), on_decision=storage_decider(store)(run_id), store=store
        )
        async with app.run_test(size=(120, 40)) as pilot:

            async def escalated() -> bool:
                return bool(app.state.open_escalations)

            await wait_for(escalated, 90, "the twin's escalation to reach the attached TUI")
            await pilot.pause(0.3)
            await pilot.press("e")
            assert isinstance(app.screen, EscalationScreen)
            await pilot.press("a")

            async def finished() -> bool:
                return run.returncode is not None

            await wait_for(finished, 180, "the headless run to finish")
        assert run.returncode == 0, (tmp_path / "run.err").read_text()
        state = RunState.fold(await store.read(run_id))
        assert state.outcome is Outcome.SHIPPED
        decided = [e for e in state.escalations.values() if e.decided_by]
        assert decided and decided[0].decided_by == f"human:{getpass.getuser()}"
        printed = (tmp_path / "run.out").read_text().splitlines()
        lines = [json.loads(x) for x in printed if x.startswith("{")]
        assert any(e.get("type") == "EscalationResolved" for e in lines)
    finally:
        if run.returncode is None:
            run.kill()
            await run.wait()
        out.close()
        err.close()
        if store is not None:
            await store.close()
