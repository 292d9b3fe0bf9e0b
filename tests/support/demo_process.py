"""Helpers for tests that run ``shopfloor`` as a real process and watch its SQLite log."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(
    home: Path, *args: str, timeout: float = 120, stdin: int | None = None
) -> subprocess.CompletedProcess[str]:
    """``shopfloor ARGS`` with its data home at ``home``: its database that home's, or the
    ``--db`` given (never a ``SHOPFLOOR_DB`` of the environment, which a printed remedy
    without ``--db`` would otherwise follow), and no colour in what the test reads.
    ``stdin``: as :func:`subprocess.run` takes it (``subprocess.PIPE``: no terminal, at its
    end at once); None, this process's."""
    return _python(home, ["-m", "tui.cli", *args], timeout, stdin)


def cli_probe(
    home: Path, script: str, *args: str, timeout: float = 150
) -> subprocess.CompletedProcess[str]:
    """``python -c SCRIPT ARGS`` set up as :func:`cli` sets up ``shopfloor``: for a script
    that wraps the CLI's entry to look at the process around it (what it froze, what it
    called)."""
    return _python(home, ["-c", script, *args], timeout)


def _python(
    home: Path, argv: list[str], timeout: float, stdin: int | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "NO_COLOR": "1"}
    env.pop("SHOPFLOOR_DB", None)
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env=env,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stored_events(db: Path) -> tuple[int, str | None]:
    if not db.exists():
        return 0, None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            count = conn.execute("select count(*) from events").fetchone()[0]
            row = conn.execute("select run_id from events limit 1").fetchone()
    except sqlite3.Error:
        return 0, None
    return int(count), (row[0] if row else None)


def kill_when(
    proc: subprocess.Popen[str] | subprocess.Popen[bytes],
    ready: Callable[[], bool],
    within_s: float = 90,
) -> bool:
    """SIGKILL ``proc`` once ``ready()`` holds (looked at every 20 ms, for ``within_s`` at
    most); whether it was still running to be killed (False: it ended first)."""
    deadline = time.monotonic() + within_s
    try:
        while time.monotonic() < deadline and proc.poll() is None and not ready():
            time.sleep(0.02)
    finally:
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    return killed
