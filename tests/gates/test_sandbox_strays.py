"""A command's processes that left its process group (``setsid``, a daemon's double fork) are
killed when the command ends or is cancelled, without the jail as in it; before, without it,
they lived on after the attempt and the run, and held the command's output open until the
drain timeout."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from live_processes import alive_with, left_after

from engine.strays import MARK, kill_marked, marked_processes, new_mark
from gates.sandbox import ProcessSandbox

SLEEPER = "python sleeper.py {token}"
SLEEPER_SCRIPT = "import time\nopen('up', 'w').close()\ntime.sleep(60)\n"
UP = "while [ ! -e up ]; do sleep 0.01; done; echo started"
"""The command ends once the sleeper is up, in its session: never before it left the group."""
FORMS = {
    "setsid": f"setsid {{sleeper}} & {UP}",
    "double fork": f"(setsid sh -c '{{sleeper}} &' &); {UP}",
    "setsid, output elsewhere": f"setsid {{sleeper}} > /dev/null 2>&1 & {UP}",
}


@pytest.mark.parametrize("form", sorted(FORMS))
async def test_a_process_in_a_session_of_its_own_dies_with_its_command(
    any_sandbox: ProcessSandbox, tmp_path: Path, form: str
) -> None:
    (tmp_path / "sleeper.py").write_text(SLEEPER_SCRIPT)
    token = f"shopfloor-stray-{uuid.uuid4().hex}"
    command = FORMS[form].format(sleeper=SLEEPER.format(token=token))
    result = await any_sandbox.run(["sh", "-c", command], tmp_path, timeout_s=30)
    assert result.returncode == 0 and "started" in result.output
    assert "output still open" not in result.output  # it held the output until the drain cut
    assert await left_after(token) == []


async def test_a_cancelled_command_takes_its_session_leavers_with_it(
    any_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    (tmp_path / "sleeper.py").write_text(SLEEPER_SCRIPT)
    token = f"shopfloor-stray-cancel-{uuid.uuid4().hex}"
    command = f"setsid {SLEEPER.format(token=token)} & wait"
    task = asyncio.create_task(any_sandbox.run(["sh", "-c", command], tmp_path, timeout_s=60))
    for _ in range(100):
        if alive_with(token):
            break
        await asyncio.sleep(0.05)
    assert alive_with(token), "the sleeper never started"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await left_after(token) == []


def test_only_the_marked_processes_are_found_and_killed() -> None:
    mark = new_mark()
    code = "import time; time.sleep(60)"
    marked = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, MARK: mark})
    other = subprocess.Popen(
        [sys.executable, "-c", code], env={**os.environ, MARK: mark + "0", "X": mark}
    )
    try:
        assert marked_processes(mark) == [marked.pid]
        assert kill_marked(mark) == 1
        assert marked.wait(timeout=10) == -signal.SIGKILL
        assert other.poll() is None
        assert marked_processes(mark) == []
    finally:
        for process in (marked, other):
            process.kill()
            process.wait()
