"""``shopfloor tail RUN``: a run's headless lines, read from the stored log in another shell.

A run under systemd or in a teammate's tmux printed its progress where only that terminal
saw it; another shell had ``attach`` (full screen) or ``status`` over and over. ``tail`` prints
what the run's console printed, follows it to the end, and says when the run's process is
gone, with how to resume it. Its exit code is the run's.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from test_plan_view import RUN_ID, db, plan_events, store

from engine import loop as event_loop
from engine.bus import EventBus
from engine.events import (
    EventBase,
    Outcome,
    RunFinished,
    Stage,
    StageChanged,
    TaskState,
    TaskStateChanged,
)
from storage.lease import RunLease
from storage.store import SqlEventStore
from tui.cli import main
from tui.commands import tail

__all__ = ["db"]  # the fixture


def finished(outcome: Outcome) -> RunFinished:
    return RunFinished(outcome=outcome, reason="" if outcome is Outcome.SHIPPED else "no")


@pytest.mark.parametrize(
    ("outcome", "code"), [(Outcome.SHIPPED, 0), (Outcome.FAILED, 1), (Outcome.KILLED, 3)]
)
def test_tail_of_an_ended_run_prints_its_lines_and_exits_as_the_run(
    db: Path, capsys: pytest.CaptureFixture[str], outcome: Outcome, code: int
) -> None:
    event_loop.run(store(db, [*plan_events(), finished(outcome)]))
    assert main(["tail", RUN_ID[:4], "--db", str(db)]) == code
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(
        "SIM  run r-plan started (create): Build a stock ledger  repo /srv/repos/stock @ main"
    )
    assert any(line.endswith("blueprint: 2 tasks (ledger, cli)") for line in lines)
    assert any(line.endswith("stage twin") for line in lines)
    assert f"run finished: {outcome.value}" in lines[-1]


def test_tail_of_a_stopped_run_says_how_to_go_on(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event_loop.run(store(db, plan_events()))  # no RunFinished, and no process holds it
    assert main(["tail", RUN_ID, "--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == (
        f"run {RUN_ID}: no process drives this run any more (stopped by a signal or a "
        f"crash): `shopfloor resume {RUN_ID} --db {db}` carries it on, "
        f"`shopfloor abandon {RUN_ID} --db {db}` ends it"
    )
    assert main(["tail", RUN_ID, "--no-follow", "--db", str(db)]) == 0  # what is logged


def args(db: Path) -> argparse.Namespace:
    return argparse.Namespace(
        run_id=RUN_ID, db=str(db), no_follow=False, log_format="text", verbose=False
    )


async def tail_while(db: Path, then: list[EventBase], *, release: bool) -> tuple[int, str, float]:
    """Tail a run whose process holds its lease while ``then`` is logged; ``release``: the
    process goes before the tail ends (its exit code, what it printed, how long it took)."""
    bus = EventBus(RUN_ID)
    out = io.StringIO()
    async with await SqlEventStore.open(str(db)) as opened:
        await opened.append([bus.emit(event) for event in plan_events()])
        lease = await RunLease.take(opened, RUN_ID)
        following = asyncio.create_task(tail.cmd_tail(args(db), Console(file=out, width=300)))
        await asyncio.sleep(0.3)
        assert not following.done()  # the run goes on: the tail waits for more
        for event in then:
            await opened.append([bus.emit(event)])
            await asyncio.sleep(0.05)
        start = asyncio.get_running_loop().time()
        if release:
            await lease.release()  # kill -9: the lease goes with the process
        code = await asyncio.wait_for(following, timeout=20)
        took = asyncio.get_running_loop().time() - start
        await lease.release()
    return code, out.getvalue(), took


async def test_tail_follows_a_live_run_to_its_end(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tail, "DRIVER_POLL_S", 0.05)
    building = [
        StageChanged(stage=Stage.BUILD),
        TaskStateChanged(task_id="ledger", state=TaskState.RUNNING, attempt=1),
        finished(Outcome.SHIPPED),
    ]
    code, out, _ = await tail_while(db, building, release=False)
    assert code == 0
    lines = out.splitlines()
    assert lines[-3].endswith("stage build")
    assert lines[-2].endswith("ledger running (attempt 1)")
    assert "run finished: shipped" in lines[-1]


async def test_tail_says_so_when_the_runs_process_goes(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tail, "DRIVER_POLL_S", 0.05)
    code, out, took = await tail_while(db, [StageChanged(stage=Stage.BUILD)], release=True)
    assert code == 1
    lines = out.splitlines()
    assert lines[-2].endswith("stage build")  # what it logged before it went
    assert lines[-1].startswith(f"run {RUN_ID}: no process drives this run any more")
    assert took < 5


def test_tail_prints_lines_without_loading_textual() -> None:
    """``tail`` read the log through the TUI's bridge module, which loaded Textual (about a
    third of a second of imports) for a command that prints lines."""
    probe = "import sys, tui.commands.tail; print('textual' in sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "False"
