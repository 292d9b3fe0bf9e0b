"""A run on a checkout where a rebase or a merge stopped half-way says so before it starts.

A rebase stopped on a conflict leaves HEAD detached on the commits rewritten so far, a merge
leaves HEAD before the merge; the run builds from that HEAD, and shipped a branch grown from
neither the user's old branch nor the one the rebase will make, with nothing said (the
uncommitted-files warning names the conflicted file, not why). Each run here is the
inventory playbook under a critic threshold it cannot reach: killed at its first stage.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from tui.cli import main
from tui.uncommitted import operation_in_progress

PLAYBOOK = Path(__file__).resolve().parents[2] / "examples" / "inventory" / "playbook.yaml"
EXIT_KILLED = 3


def diverged(path: Path) -> Path:
    """``main`` and ``topic`` each change README.md's last line: they conflict."""
    repo = make_repo(path, {"README.md": "# shop\n", "shop/__init__.py": ""})
    git(repo, "checkout", "-q", "-b", "topic")
    (repo / "README.md").write_text("# shop\ntopic\n")
    git(repo, "commit", "-q", "-am", "topic")
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("# shop\nmain\n")
    git(repo, "commit", "-q", "-am", "main")
    return repo


def stopped_rebase(path: Path) -> Path:
    repo = diverged(path)
    git(repo, "checkout", "-q", "topic")
    with pytest.raises(Exception, match="rebase"):
        git(repo, "rebase", "main")
    return repo


def stopped_merge(path: Path) -> Path:
    repo = diverged(path)
    with pytest.raises(Exception, match="merge"):
        git(repo, "merge", "topic")
    return repo


def test_git_tells_which_operation_stopped_half_way(tmp_path: Path) -> None:
    assert operation_in_progress(stopped_rebase(tmp_path / "a")) == "a rebase"
    assert operation_in_progress(stopped_merge(tmp_path / "b")) == "a merge"
    assert operation_in_progress(diverged(tmp_path / "c")) is None
    clean = diverged(tmp_path / "d")
    git(clean, "worktree", "add", "-q", str(tmp_path / "wt"), "topic")
    with pytest.raises(Exception, match="rebase"):
        git(tmp_path / "wt", "rebase", "main")
    assert operation_in_progress(tmp_path / "wt") == "a rebase"  # the worktree's own
    assert operation_in_progress(clean) is None


@pytest.mark.parametrize(
    ("make", "what"), [(stopped_rebase, "a rebase"), (stopped_merge, "a merge")]
)
def test_a_run_on_a_checkout_half_way_through_says_what_it_builds_from(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str], make, what: str
) -> None:
    repo = make(tmp_path / "repo")
    head = git(repo, "rev-parse", "HEAD")
    before = git(repo, "status", "--porcelain=v2", "--branch")
    config = tmp_path / "kill.toml"
    config.write_text("[engine]\nmin_critic_score = 9.5\n", encoding="utf-8")
    db = tmp_path / "runs.db"
    code = main(
        [
            *("run", "add stock", "--repo", str(repo), "--playbook", str(PLAYBOOK)),
            *("--config", str(config), "--speed", "200", "--db", str(db)),
        ]
    )
    assert code == EXIT_KILLED
    expected = (
        f"{what} is in progress in {repo}: the run builds from HEAD as it left it, commit "
        f"{head[:7]}, not from what it will make; finish or abort it first to build on its "
        "result"
    )
    assert f"warning: {expected}" in capsys.readouterr().out.splitlines()
    assert main(["runs", "--json", "--db", str(db)]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert main(["status", run["run_id"], "--json", "--db", str(db)]) == 0
    assert expected in json.loads(capsys.readouterr().out)["warnings"]
    assert git(repo, "status", "--porcelain=v2", "--branch") == before
    assert operation_in_progress(repo) == what  # still the user's to finish
