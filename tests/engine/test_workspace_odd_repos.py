"""GitWorkspaces on repositories in odd states: each either works or is refused in one line
(a WorkspaceError, which the CLI prints as one line with exit code 2, or the run's failed
reason), never a GitCommandError's traceback, and the user's checkout stays as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from repo_helpers import commit, make_repo

from engine.workspace import GitWorkspaces, WorkspaceError


def open_ws(repo: Path, worktree_root: Path, run_id: str = "run1") -> GitWorkspaces:
    return GitWorkspaces(repo, run_id, worktree_root)


def one_line(exc: pytest.ExceptionInfo[WorkspaceError]) -> str:
    text = str(exc.value)
    assert "\n" not in text, text
    assert "Cmd(" not in text and "stderr:" not in text, text  # not GitPython's repr
    return text


# -- paths git finds its way in or out of -----------------------------------------------------


def test_a_folder_inside_a_repository_names_the_repository_to_give(
    tmp_path: Path, worktree_root: Path
):
    repo = make_repo(tmp_path / "repo", {"pkg/mod.py": "x = 1\n"})
    with pytest.raises(WorkspaceError) as exc:
        open_ws(repo / "pkg", worktree_root)
    text = one_line(exc)
    assert text.startswith(f"{repo / 'pkg'} is a folder inside the git repository {repo}")
    assert "not a git repository" not in text


def test_git_refusing_the_repository_is_one_line_with_its_reason(
    tmp_path: Path, worktree_root: Path, monkeypatch: pytest.MonkeyPatch
):
    """A repository git will not use (here: owned by another user, git's safe.directory
    check) was a GitCommandError traceback from the first git call of the run."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to give the repository to another user")
    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    gitconfig = tmp_path / "gitconfig"
    gitconfig.write_text("[safe]\n\tdirectory = /nowhere\n", encoding="utf-8")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    os.chown(repo, 12345, 12345)  # a repository owned by someone else
    with pytest.raises(WorkspaceError) as exc:
        open_ws(repo, worktree_root)
    text = one_line(exc)
    assert text.startswith(f"git refuses the repository {repo}: detected dubious ownership")
    assert "safe.directory" in text


# -- names git quotes ----------------------------------------------------------------------------


def test_file_names_are_listed_as_they_are_not_as_git_quotes_them(
    tmp_path: Path, worktree_root: Path
):
    """``git ls-tree --name-only`` quotes a name with non-ASCII bytes, a tab or a newline
    (``"\\303\\274ber.py"``): the planner and the repo map were given names no file has."""
    names = ["über.py", "dir with space/mod.py", "tab\there.txt", "new\nline.txt", "plain.py"]
    repo = make_repo(tmp_path / "repo", {"README.md": "# names\n"})
    commit(repo, dict.fromkeys(names, "x = 1\n"), "odd names")
    ws = open_ws(repo, worktree_root)
    assert sorted(ws.tracked_files()) == sorted([*names, "README.md"])
    assert sorted(ws.changed_files(ws.base_commit)) == sorted(names)
    for name in ws.tracked_files():
        assert (repo / name).is_file()
