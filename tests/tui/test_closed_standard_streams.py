"""A command started with a standard descriptor closed (``shopfloor runs <&-`` from a
script, a daemon that closed its output) runs as with ``/dev/null`` there: with stdin or
stderr closed the event loop's library aborted the process (``uv__close: Assertion `fd >
STDERR_FILENO' failed``, a core dump, exit 134); with stdout closed it was a traceback
(``sys.stdout`` is None)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from demo_process import ROOT


def _closed(home: Path, fd: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "NO_COLOR": "1"}
    env.pop("SHOPFLOOR_DB", None)
    keep = {0: subprocess.DEVNULL, 1: subprocess.PIPE, 2: subprocess.PIPE}
    return subprocess.run(
        ["sh", "-c", f'exec "$0" -m tui.cli "$@" {fd}>&-', sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdin=keep[0],
        stdout=keep[1],
        stderr=keep[2],
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("fd", [0, 1, 2], ids=["stdin", "stdout", "stderr"])
def test_a_closed_standard_descriptor_is_no_crash(home: Path, fd: int) -> None:
    listed = _closed(home, fd, "runs")
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stderr
    if fd != 1:
        assert listed.stdout == "no runs yet\n"
    refused = _closed(home, fd, "status", "no-such-run")
    assert refused.returncode == 2, refused.stderr
    if fd != 2:
        assert refused.stderr == "shopfloor: no run matches 'no-such-run'\n"
