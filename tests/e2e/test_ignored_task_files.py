"""A task's file that the repository's ``.gitignore`` matches ships with the task.

The engineer wrote it and the attempt's gates passed with it in the worktree, but ``git add
-A`` left it out of the commit: the shipped branch lacked it (here ``units/cli.py``, which
``units/__main__.py`` imports), and the merge gates, keyed in the gate cache by what git
tracks, were a hit on the attempt's green verdict.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from engine import loop as event_loop
from tui.cli import main

pytestmark = pytest.mark.e2e
UNITS = Path(__file__).resolve().parents[2] / "examples" / "units"


def test_a_task_file_gitignore_matches_is_in_the_shipped_branch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHOPFLOOR_DB", raising=False)
    monkeypatch.delenv(event_loop.LOOP_VARIABLE, raising=False)
    repo = make_repo(tmp_path / "repo", {".gitignore": "cli.py\n"})
    shutil.copytree(UNITS / "seed", repo, dirs_exist_ok=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "seed")
    code = main(
        [
            *("run", (UNITS / "request.md").read_text(), "--repo", str(repo)),
            *("--playbook", str(UNITS / "playbook.yaml")),
            *("--config", str(UNITS / "shopfloor.toml")),
            *("--speed", "200", "--db", str(tmp_path / "runs.db")),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    (branch,) = [line.split()[-1] for line in out.splitlines() if "shipped branch:" in line]
    assert "def main" in git(repo, "show", f"{branch}:units/cli.py")
    # The shipped branch works as the user will check it out.
    checkout = tmp_path / "shipped"
    git(repo, "worktree", "add", "-q", str(checkout), branch)
    done = subprocess.run(
        ["python3", "-m", "units", "100", "C", "F"],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.strip() == "212.00", done.stderr
