"""A real ``shopfloor demo`` process SIGKILLed at several points resumes to shipped.

The demo runs headless in a subprocess with its own SHOPFLOOR_HOME. The test watches the
SQLite event log and kills the process with SIGKILL once enough events are stored, then runs
``shopfloor resume`` and checks with ``status --json`` that the run shipped and that each task
was merged exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from demo_process import ROOT, cli, cli_probe, kill_when, stored_events

from storage.lease import RunLease
from storage.store import SqlEventStore

COUNTING_OPENS = """
import sys
from storage.store import SqlEventStore
from tui.cli import main
opened = []
plain = SqlEventStore.open.__func__
async def counted(cls, url, **kw):
    opened.append(url)
    return await plain(cls, url, **kw)
SqlEventStore.open = classmethod(counted)
code = main(sys.argv[1:])
print(f"exit {code} store opens {len(opened)}")
"""
"""``shopfloor ARGS`` counting the event stores the process opens (the storage writer's
child opens its own)."""


@pytest.mark.parametrize("kill_after", [5, 45, 110])
def test_a_demo_killed_at_any_point_resumes_to_shipped_merging_each_task_once(
    tmp_path: Path, kill_after: int, share_gate_cache: Callable[[Path], None]
):
    home = tmp_path / "home"
    env = {**os.environ, "SHOPFLOOR_HOME": str(home)}
    env.pop("SHOPFLOOR_DB", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "demo",
            "--headless",
            "--speed",
            "50",
            "--out",
            str(tmp_path / "repo"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = home / "shopfloor.db"
    killed = kill_when(proc, lambda: stored_events(db)[0] >= kill_after)
    assert killed, "the demo finished before the kill point; choose an earlier one"
    _, run_id = stored_events(db)
    assert run_id is not None

    status = json.loads(cli(home, "status", run_id, "--json").stdout)
    assert status["outcome"] == "running" and status["live"] is False  # no process drives it
    # The demo ran its own gates up to the kill; the resume may reuse the session's verdicts
    # on the trees every demo builds.
    share_gate_cache(home)
    if kill_after == 45:
        one_driver_at_a_time(home, run_id)
    else:
        resumed = cli_probe(home, COUNTING_OPENS, "resume", run_id[:6], "--headless")
        # the log is read, the lease taken and the answers looked up on the one store
        said = resumed.stdout.splitlines()[-1:]
        assert said == ["exit 0 store opens 1"], resumed.stdout[-2000:] + resumed.stderr[-2000:]
    status = json.loads(cli(home, "status", run_id, "--json").stdout)
    assert status["outcome"] == "shipped", status["reason"]
    tasks = [t["id"] for t in status["tasks"]]
    assert sorted(status["merged"]) == sorted(tasks)  # each task merged exactly once
    if kill_after != 45:  # the closing line counts the tasks merged before the kill too
        (finished,) = [line for line in resumed.stdout.splitlines() if "run finished:" in line]
        assert f"merged {len(tasks)}/{len(tasks)}" in finished, finished
    assert len(status["merged"]) == len(set(status["merged"]))
    subjects = subprocess.run(
        ["git", "log", "--format=%s", f"main..{status['branch']}"],
        cwd=tmp_path / "repo",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(subjects) == len(tasks)  # one commit per task on the shipped branch
    again = cli(home, "resume", run_id)
    assert again.returncode == 0 and "already finished: shipped" in again.stdout


def one_driver_at_a_time(home: Path, run_id: str) -> None:
    """A killed run shows as stopped; ``resume`` refuses a run a live process drives; of two
    ``resume`` at once, one drives the run to its end and the other is refused. Before the
    lease, a killed run said "running" for ever, and two drivers of one run collided: one
    crashed on a duplicate sequence number, the other recorded the run as failed."""
    assert f"{run_id}  stopped SIM" in cli(home, "runs").stdout
    assert "no process drives this run any more" in cli(home, "status", run_id).stdout

    async def resume_while_driven() -> None:
        store = await SqlEventStore.open(str(home / "shopfloor.db"))
        held = await RunLease.take(store, run_id)
        try:
            refused = await asyncio.to_thread(cli, home, "resume", run_id)
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert f"run {run_id} is still running (pid {os.getpid()} on " in refused.stderr
        finally:
            await held.release()
            await store.close()

    asyncio.run(resume_while_driven())
    env = {**os.environ, "SHOPFLOOR_HOME": str(home)}
    env.pop("SHOPFLOOR_DB", None)
    resumes = [
        subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "resume", run_id, "--headless"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    ended = [(p.wait(120), *p.communicate()) for p in resumes]
    assert sorted(code for code, _, _ in ended) == [0, 2], ended
    loser = next(err for code, _, err in ended if code == 2)
    assert "is still running" in loser or "moved on while this resume started" in loser, loser
