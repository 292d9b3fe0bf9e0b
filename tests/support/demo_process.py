"""Helpers for tests that run ``shopfloor`` as a real process and watch its SQLite log."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOPFLOOR_HOME": str(home)}
    env.pop("SHOPFLOOR_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=ROOT,
        env=env,
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
