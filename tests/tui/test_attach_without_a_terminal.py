"""``attach`` with no terminal to draw on (``ssh host shopfloor attach RUN`` without ``-t``,
a script) is one line pointing at ``tail``: it drew the control room's frames into the pipe
and read end-of-file from stdin forever, at half a core, until killed."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from demo_process import cli
from test_plan_view import RUN_ID, started, store


def test_attach_on_no_terminal_is_one_line_naming_tail(home: Path) -> None:
    db = home.parent / "runs.db"
    asyncio.run(store(db, [started()]))
    attached = cli(home, "attach", RUN_ID[:4], "--db", str(db), stdin=subprocess.PIPE, timeout=60)
    assert attached.returncode == 2
    assert attached.stdout == ""
    assert attached.stderr.startswith("shopfloor: attach draws the control room on a terminal")
    assert attached.stderr.endswith(
        f"`shopfloor tail {RUN_ID} --db {db}` prints the run's progress lines\n"
    )
    assert attached.stderr.count("\n") == 1


def test_a_run_in_the_tui_on_no_terminal_is_refused_before_it_starts(
    home: Path, tmp_path: Path
) -> None:
    """``demo --tui`` (and ``run``/``resume`` with it) from a script or a unit drew its
    frames into the pipe for the whole run: refused in one line, before a demo repository,
    a writer process or a run exists."""
    db = tmp_path / "runs.db"
    for argv in (
        ["demo", "--tui", "--speed", "200", "--out", str(tmp_path / "repo")],
        ["resume", "r-none", "--tui"],
    ):
        refused = cli(home, *argv, "--db", str(db), stdin=subprocess.PIPE, timeout=60)
        assert refused.returncode == 2, refused.stderr
        assert refused.stdout == ""
        assert refused.stderr.startswith("shopfloor: --tui draws the control room on a terminal")
        assert refused.stderr.count("\n") == 1
    assert not (tmp_path / "repo").exists()
    assert not db.exists()
