"""A sandbox's private folder (its commands' HOME and TMPDIR) is removed by a later sandbox
once the process that made it is gone without removing it (SIGKILL, a second Ctrl-C's
``os._exit``); before, each such stop left one in the temp directory for good."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from live_processes import alive_with

from gates.private_dir import PREFIX
from gates.sandbox import ProcessSandbox

KILLED = """
import os, sys
from gates.sandbox import ProcessSandbox
box = ProcessSandbox(use_bwrap=False)
print(box.home.parent, flush=True)
os._exit(0) if sys.argv[1] == "exit" else os.kill(os.getpid(), 9)
"""


def left_by_a_killed_process(temp: Path, how: str) -> Path:
    done = subprocess.run(
        [sys.executable, "-c", KILLED, how],
        env={**os.environ, "TMPDIR": str(temp)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    folder = Path(done.stdout.strip())
    assert folder.parent == temp and (folder / "home").is_dir()
    return folder


@pytest.mark.parametrize("how", ["kill", "exit"])
def test_the_folder_of_a_process_gone_is_removed_by_the_next_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = [left_by_a_killed_process(tmp_path, how) for _ in range(2)]
    being_made = tmp_path / f"{PREFIX}new"  # no lock file yet: never taken for a dead one
    being_made.mkdir()
    live = ProcessSandbox(use_bwrap=False)
    try:
        assert [folder.exists() for folder in gone] == [False, False]
        assert being_made.is_dir()
        other = ProcessSandbox(use_bwrap=False)  # a live sandbox's folder stays
        assert live.home.is_dir() and other.home.is_dir()
        other.close()
        assert not other.home.parent.exists()
    finally:
        live.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [being_made.name]


KILLED_MID_COMMAND = """
import asyncio, os, sys
from pathlib import Path
from gates.sandbox import ProcessSandbox

box = ProcessSandbox(use_bwrap=False)
sleeper = f"python sleeper.py {sys.argv[1]}"

async def main():
    command = f"{sleeper} & setsid {sleeper} & wait"
    asyncio.ensure_future(box.run(["sh", "-c", command], Path.cwd(), timeout_s=60))
    while len(list(Path.cwd().glob("up-*"))) < 2:
        await asyncio.sleep(0.02)
    os.kill(os.getpid(), 9)

asyncio.run(main())
"""
SLEEPER = "import os, time\nopen(f'up-{os.getpid()}', 'w').close()\ntime.sleep(60)\n"


def test_what_a_killed_process_s_commands_left_running_goes_with_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the jail, a factory SIGKILLed while a command ran took only the command's first
    process with it (its parent-death signal): what that started, in its group or in a
    session of its own, went on for good."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    work = tmp_path / "work"
    work.mkdir()
    (work / "sleeper.py").write_text(SLEEPER)
    token = f"shopfloor-orphan-{os.getpid()}-{id(work)}"
    subprocess.run(
        [sys.executable, "-c", KILLED_MID_COMMAND, token],
        cwd=work,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        timeout=60,
    )
    left = alive_with(token)
    try:
        assert len(left) == 2  # what the killed factory's command started lives on
        ProcessSandbox(use_bwrap=False).close()
        for _ in range(100):
            if not alive_with(token):
                break
            time.sleep(0.05)
        assert alive_with(token) == []
    finally:
        for pid in alive_with(token):
            os.kill(pid, signal.SIGKILL)
