"""A SQLite database on a disk that filled up: the next command says so in one line.

A run fills the disk its database is on and stops (its events could not be stored); the
person runs ``shopfloor resume`` before freeing space. The resume must refuse in one line,
never a traceback, and the run's stored events must all still be there. The disk is a small
tmpfs that bubblewrap mounts for the test (its own mount namespace; nothing on the host).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

INSIDE = """\
import asyncio, json, subprocess, sys
from pathlib import Path
from engine.bus import EventBus
from engine.events import RunStarted
from storage.store import SqlEventStore

full, repo = Path(sys.argv[1]), sys.argv[2]
db = str(full / "runs.db")


async def main():
    store = await SqlEventStore.open(db)
    started = RunStarted(
        request="add stock", repo=repo, base_branch="main", base_commit="0" * 40,
        integration_branch="shopfloor/wip/r-full", models={"planner": "sim:"}, simulated=True,
    )
    await store.append([EventBus("r-full").emit(started)])
    try:  # the run filled the disk
        with open(full / "filler", "wb", buffering=0) as filler:
            while True:
                filler.write(b"x" * 4096)
    except OSError:
        pass
    resume = subprocess.run(
        [sys.executable, "-m", "tui.cli", "resume", "r-full", "--db", db],
        capture_output=True, text=True, timeout=120,
    )
    kept = await store.count_events("r-full")
    await store.close()
    print(json.dumps({"code": resume.returncode, "said": resume.stdout + resume.stderr,
                      "kept": kept}))


asyncio.run(main())
"""


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_a_resume_on_a_full_disk_refuses_in_one_line(tmp_path: Path) -> None:
    full, repo = tmp_path / "full", tmp_path / "repo"
    full.mkdir()
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    argv = ["bwrap", "--dev-bind", "/", "/", "--size", str(400 * 1024), "--tmpfs", str(full)]
    env = {**os.environ, "SHOPFLOOR_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [*argv, sys.executable, "-c", INSIDE, str(full), str(repo)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0 and "bwrap:" in done.stderr:
        pytest.skip(f"bubblewrap cannot mount a tmpfs here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    said = result["said"].strip().splitlines()
    assert result["code"] != 0
    assert len(said) == 1, result["said"]
    assert "No space left on device" in said[0] or "disk is full" in said[0], said
    assert result["kept"] == 1  # nothing stored was lost
