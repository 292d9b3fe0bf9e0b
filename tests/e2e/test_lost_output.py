"""A headless run whose output goes nowhere any more goes on, and says so once on stderr.

``shopfloor demo | head -3`` closes the pipe after three lines, ``> /dev/full`` (or a log
file on a full disk) fails every write. A run is a long job: it goes on to its end with its
progress lines dropped. Before, it did so in silence; the person saw three lines, then
nothing, and could not tell a run at work from a stuck one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def shopfloor_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "NO_COLOR": "1"}
    env.pop("SHOPFLOOR_DB", None)
    return env


@pytest.mark.parametrize("reader", ["head", "full disk"])
def test_a_run_whose_output_is_lost_ships_and_says_it_once_on_stderr(
    tmp_path: Path, reader: str, share_gate_cache: Callable[[Path], None]
) -> None:
    home = tmp_path / "home"
    share_gate_cache(home)
    argv = [sys.executable, "-m", "tui.cli", "demo", "--speed", "50"]
    with open(os.devnull if reader == "head" else "/dev/full", "w") as full:
        proc = subprocess.Popen(
            [*argv, "--out", str(tmp_path / "repo")],
            cwd=ROOT,
            env=shopfloor_env(home),
            stdout=subprocess.PIPE if reader == "head" else full,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        if proc.stdout is not None:  # ``| head -3``
            for _ in range(3):
                proc.stdout.readline()
            proc.stdout.close()
        assert proc.stderr is not None
        errors = proc.stderr.read()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, errors[-2000:]  # the run's own outcome: shipped
    assert "Traceback" not in errors, errors[-2000:]
    said = [line for line in errors.splitlines() if "the output is gone" in line]
    assert len(said) == 1, errors[-2000:]
    why = "Broken pipe" if reader == "head" else "No space left on device"
    assert said[0].startswith(f"shopfloor: the output is gone ({why})"), said[0]
    runs = subprocess.run(
        [sys.executable, "-m", "tui.cli", "runs", "--json"],
        cwd=ROOT,
        env=shopfloor_env(home),
        capture_output=True,
        text=True,
        check=True,
    )
    (run,) = json.loads(runs.stdout)
    assert f"shopfloor status {run['run_id']}" in said[0]
    assert run["outcome"] == "shipped"
