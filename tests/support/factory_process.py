"""A small factory in a process of its own, for tests that stop or kill it (Ctrl-Z, SIGKILL)
and look at what its commands did meanwhile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def factory_process(script: str, *args: str, cwd: Path) -> subprocess.Popen[str]:
    """``python -c script args`` in ``cwd``, with this checkout's packages importable and its
    stdout read as text lines (the script says where it got to, one line at a time)."""
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
        stdout=subprocess.PIPE,
        text=True,
    )
