"""End to end in a real terminal: tmux runs ``shopfloor demo --tui``, a human presses ``a``.

The demo must raise an escalation for a human (the TUI's policy is ``wait``); the test waits
for the banner, opens the queue, approves, lets the run ship and checks the stored log says
a human decided.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.tmux_session import TmuxSession, tmux_session

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

SHOPFLOOR = [sys.executable, "-m", "tui.cli"]
REPO = Path(__file__).resolve().parents[2]


def wait_for(session: TmuxSession, *needles: str, timeout: float) -> str:
    """Wait until one of ``needles`` is on screen; returns the one found."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        screen = session.screen()
        for needle in needles:
            if needle in screen:
                return needle
        time.sleep(0.25)
    raise AssertionError(f"none of {needles} appeared; screen:\n{session.screen()}")


def test_demo_in_tmux_waits_for_a_human_who_approves(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    # Its own data folder (worktrees, gate cache, the twin's copy of the DNA).
    home = tmp_path / "home"
    share_gate_cache(home)
    argv = [
        *SHOPFLOOR,
        "demo",
        "--tui",
        "--speed",
        "50",
        "--db",
        db,
        "--out",
        str(tmp_path / "repo"),
    ]
    command = shlex.join(["env", f"SHOPFLOOR_HOME={home}", *argv])
    with tmux_session(command, width=120, height=40, cwd=REPO) as session:
        seen = wait_for(session, "press e to answer", "run finished", timeout=90)
        assert seen == "press e to answer", "the run finished without asking a human"
        session.keys("e")
        wait_for(session, "decision needed", timeout=10)
        session.keys("a")
        wait_for(session, "run finished", timeout=120)
        session.keys("q")
    env = {**os.environ, "SHOPFLOOR_HOME": str(home)}
    runs = subprocess.run(
        [*SHOPFLOOR, "runs", "--json", "--db", db],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    run_id = json.loads(runs.stdout)[0]["run_id"]
    status = subprocess.run(
        [*SHOPFLOOR, "status", run_id, "--json", "--db", db],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    state = json.loads(status.stdout)
    assert state["outcome"] == "shipped"
    decided = [e["decided_by"] for e in state["escalations"]]
    assert decided and all(d.startswith("human:") for d in decided)


def test_ctrl_z_suspends_the_tui_to_the_shell_and_fg_brings_it_back_to_ship(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    """Ctrl-Z in the control room did nothing (the screen read it as a key and dropped it),
    where the headless run, and every other program on the terminal, stops and gives the
    shell back; ``fg`` brings the screen back and the run goes on to ship."""
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    home = tmp_path / "home"
    share_gate_cache(home)
    argv = [*SHOPFLOOR, "demo", "--tui", "--speed", "50", "--escalations", "twin", "--db", db]
    command = shlex.join(["env", f"SHOPFLOOR_HOME={home}", *argv, "--out", str(tmp_path / "repo")])
    shell = ["bash", "--norc", "--noprofile"]
    with tmux_session(*shell, width=120, height=40, cwd=REPO) as session:
        session.keys(command, "Enter")
        wait_for(session, "SIM", timeout=60)
        session.keys("C-z")
        wait_for(session, "Stopped", timeout=10)  # bash's word for a suspended job
        session.keys("fg", "Enter")
        wait_for(session, "run finished", timeout=90)
        session.keys("q")
        wait_for(session, "shipped branch:", timeout=30)  # the app left; the summary lines
    env = {**os.environ, "SHOPFLOOR_HOME": str(home)}
    runs = subprocess.run(
        [*SHOPFLOOR, "runs", "--json", "--db", db], capture_output=True, text=True, env=env
    )
    (run,) = json.loads(runs.stdout)
    assert run["outcome"] == "shipped"
