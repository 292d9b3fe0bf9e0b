"""shopfloor started from inside git: a hook, ``git rebase --exec``, ``git bisect run``.

git hands what it runs the repository it works on in the environment: ``GIT_INDEX_FILE``
(every commit hook), ``GIT_DIR``, ``GIT_WORK_TREE``. Each of the factory's own git calls
inherited them, so a git command meant for a scratch copy or an attempt's worktree worked on
that repository instead: an audit started from a pre-commit hook staged every unstaged edit
and untracked file of the user's checkout (its snapshot's ``git add -A`` went to the user's
index), and a run's attempts wrote their worktrees into the user's index. ``--repo`` names
the repository; the outer one's variables are dropped as the process starts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from tui.cli import OUTER_REPOSITORY_ENV, main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    "variables",
    [
        pytest.param(("GIT_INDEX_FILE",), id="pre-commit-hook"),
        pytest.param(("GIT_INDEX_FILE", "GIT_DIR", "GIT_WORK_TREE"), id="worktree-and-dir"),
    ],
)
def test_an_audit_from_inside_git_leaves_the_users_checkout_alone(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, variables: tuple[str, ...]
) -> None:
    repo = make_repo(tmp_path / "repo", {"billing/__init__.py": "", "README.md": "# bill\n"})
    (repo / "README.md").write_text("# bill\n\nstaged\n")
    git(repo, "add", "README.md")
    (repo / "billing" / "__init__.py").write_text("# not staged\n")
    (repo / "notes.txt").write_text("untracked\n")
    status = git(repo, "status", "--porcelain=v1", "--untracked-files=all")
    assert status.splitlines() == ["M  README.md", " M billing/__init__.py", "?? notes.txt"]
    index = (repo / ".git" / "index").read_bytes()
    values = {
        "GIT_INDEX_FILE": str(repo / ".git" / "index"),
        "GIT_DIR": str(repo / ".git"),
        "GIT_WORK_TREE": str(repo),
    }
    for name in variables:  # what git sets for the hooks of this repository
        monkeypatch.setenv(name, values[name])
    code = main(
        [
            *("run", "Audit the billing library", "--repo", str(repo), "--mode", "audit"),
            *("--playbook", str(EXAMPLES / "audit" / "playbook.yaml")),
            *("--config", str(EXAMPLES / "audit" / "shopfloor.toml")),
            *("--speed", "200", "--db", str(tmp_path / "runs.db")),
            *("--out", str(tmp_path / "report")),
        ]
    )
    assert not any(name in os.environ for name in OUTER_REPOSITORY_ENV)
    assert git(repo, "status", "--porcelain=v1", "--untracked-files=all") == status
    assert (repo / ".git" / "index").read_bytes() == index
    assert code == 0
    assert (tmp_path / "report" / "audit.md").is_file()
