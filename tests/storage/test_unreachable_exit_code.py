"""A database URL that is wrong exits 2 (bad input) in one line.

A PostgreSQL URL whose port is not a number (``...@127.0.0.1:54x/shopfloor``) was a
traceback and exit 1 (SQLAlchemy's ``int()`` of the port); a host name that does not resolve
and a database that does not exist on a live server say what to fix, and exit 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tui.commands.common import EXIT_BAD_INPUT

ROOT = Path(__file__).resolve().parents[2]


def shopfloor(home: Path, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "NO_COLOR": "1"}
    env.pop("SHOPFLOOR_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args, "--db", db],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_malformed_url_exits_2_in_one_line(tmp_path: Path) -> None:
    done = shopfloor(
        tmp_path / "home", "postgresql+asyncpg://postgres:hunter2@127.0.0.1:54x/shopfloor", "runs"
    )
    assert done.returncode == EXIT_BAD_INPUT, done.stdout + done.stderr
    assert done.stderr.strip() == (
        "shopfloor: malformed database URL postgresql+asyncpg://...: its port is not a number"
    )


def test_a_host_name_that_does_not_resolve_exits_2(tmp_path: Path) -> None:
    done = shopfloor(
        tmp_path / "home", "postgresql+asyncpg://postgres@no-such-host.invalid/x", "runs"
    )
    assert done.returncode == EXIT_BAD_INPUT, done.stdout + done.stderr
    assert "cannot find host 'no-such-host.invalid'" in done.stderr


@pytest.mark.postgres
def test_a_database_that_does_not_exist_exits_2(tmp_path: Path, pg_url: str) -> None:
    missing = make_url(pg_url).set(database="no_such_shopfloor_db")
    url = missing.render_as_string(hide_password=False)
    done = shopfloor(tmp_path / "home", url, "status", "5e5e5e5e5e5e")
    assert done.returncode == EXIT_BAD_INPUT, done.stdout + done.stderr
    assert "there is no database 'no_such_shopfloor_db'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
