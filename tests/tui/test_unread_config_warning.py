"""A repository's own shopfloor.toml, which ``shopfloor init`` writes, is not read unasked —
and a run on it now says so, with the flag that reads it.

Before, ``shopfloor init --repo R`` then ``shopfloor run --repo R ...`` ran on the defaults
without a word: the thresholds, models and budgets the user had edited into R/shopfloor.toml
were silently not applied. It is still not read without ``--config`` (a cloned repository's
file would choose the agents' commands and where the user's keys are sent).

Each run is the inventory playbook: its twin escalates, and ``--escalations reject`` kills the
run there, a few seconds in; a run under the repository's file (critic threshold 9.5, the
critic scores 8.0) would be killed at the critic instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repo_helpers import make_repo

from tui.cli import main

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "examples" / "inventory" / "playbook.yaml"
EXIT_KILLED = 3
STRICT = "[engine]\nmin_critic_score = 9.5\n"


def run_on(repo: Path, db: Path, *extra: str) -> int:
    return main(
        [
            *("run", "add stock", "--repo", str(repo), "--playbook", str(PLAYBOOK)),
            *("--escalations", "reject", "--speed", "1000", "--db", str(db)),
            *("--metrics-port", "0", *extra),
        ]
    )


def reason_and_warnings(db: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, list[str]]:
    capsys.readouterr()
    assert main(["runs", "--json", "--db", str(db)]) == 0
    run = json.loads(capsys.readouterr().out)[0]
    assert main(["status", run["run_id"], "--json", "--db", str(db)]) == 0
    status = json.loads(capsys.readouterr().out)
    return str(status["reason"]), list(status["warnings"])


def test_a_run_says_the_repositorys_own_config_is_not_read(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# shop\n", "shopfloor.toml": STRICT})
    db = tmp_path / "runs.db"
    assert run_on(repo, db) == EXIT_KILLED
    out = capsys.readouterr().out
    found = repo / "shopfloor.toml"
    expected = f"{found} is not read: `--config {found}` runs with it"
    lines = out.splitlines()
    assert f"warning: {expected}" in lines
    started = next(i for i, line in enumerate(lines) if " started (" in line)
    assert lines.index(f"warning: {expected}") < started  # said before the run starts
    reason, warnings = reason_and_warnings(db, capsys)
    assert "twin gate" in reason  # the file's critic threshold was not applied
    assert warnings == [expected]  # ``status`` (and the TUI) keep it


def test_with_config_given_or_no_file_nothing_is_said(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# shop\n", "shopfloor.toml": STRICT})
    db = tmp_path / "runs.db"
    assert run_on(repo, db, "--config", str(repo / "shopfloor.toml")) == EXIT_KILLED
    assert "is not read" not in capsys.readouterr().out
    reason, warnings = reason_and_warnings(db, capsys)
    assert "kill gate" in reason and warnings == []
    bare = make_repo(tmp_path / "bare", {"README.md": "# shop\n"})
    assert run_on(bare, tmp_path / "bare.db") == EXIT_KILLED
    assert "is not read" not in capsys.readouterr().out
