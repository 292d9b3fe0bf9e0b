"""An audit reads the checkout as it is, uncommitted edits included (engine.audit copies the
files): its warning said the opposite — "1 uncommitted file ... is not in this run: it
audits commit X (HEAD); commit it to have it audited" — above a report that listed that very
file's findings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from engine import loop as event_loop
from tui.cli import main

AUDIT = Path(__file__).resolve().parents[2] / "examples" / "audit"


def test_an_audit_says_the_uncommitted_files_are_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHOPFLOOR_DB", raising=False)
    monkeypatch.delenv(event_loop.LOOP_VARIABLE, raising=False)
    repo = make_repo(tmp_path / "repo", {"billing/__init__.py": "", "README.md": "# b\n"})
    head = git(repo, "rev-parse", "HEAD")
    (repo / "billing" / "fresh.py").write_text("import os\n")  # not committed: unused import
    code = main(
        [
            *("run", "Audit billing", "--repo", str(repo), "--mode", "audit"),
            *("--playbook", str(AUDIT / "playbook.yaml")),
            *("--config", str(AUDIT / "shopfloor.toml")),
            *("--speed", "200", "--db", str(tmp_path / "runs.db")),
            *("--out", str(tmp_path / "report")),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    expected = (
        f"1 uncommitted file (1 untracked) in {repo} is in this audit: it reads the checkout "
        f"as it is, not commit {head[:7]} (HEAD) alone"
    )
    assert [line for line in out.splitlines() if "warning" in line] == [f"warning: {expected}"]
    report = json.loads((tmp_path / "report" / "audit.json").read_text())
    assert "billing/fresh.py" in json.dumps(report)  # the file it named is audited


def test_an_audit_names_no_integration_branch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`runs --json` and `status --json` gave an audit the integration branch
    shopfloor/wip/RUN, which an audit never makes: `git branch` in the repository had none."""
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHOPFLOOR_DB", raising=False)
    monkeypatch.delenv(event_loop.LOOP_VARIABLE, raising=False)
    repo = make_repo(tmp_path / "repo", {"billing/__init__.py": "", "README.md": "# b\n"})
    db = ("--db", str(tmp_path / "runs.db"))
    code = main(
        [
            *("run", "Audit billing", "--repo", str(repo), "--mode", "audit"),
            *("--playbook", str(AUDIT / "playbook.yaml")),
            *("--config", str(AUDIT / "shopfloor.toml")),
            *("--speed", "200", *db, "--out", str(tmp_path / "report")),
        ]
    )
    assert code == 0, capsys.readouterr().out
    capsys.readouterr()
    assert main(["runs", "--json", *db]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["mode"], listed["integration_branch"]) == ("audit", None)
    assert main(["status", listed["run_id"], "--json", *db]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["mode"], status["integration_branch"]) == ("audit", None)
    assert git(repo, "branch", "--list", "shopfloor/*") == ""
