"""GitWorkspaces on repositories in odd states: each either works or is refused in one line
(a WorkspaceError, which the CLI prints as one line with exit code 2, or the run's failed
reason), never a GitCommandError's traceback, and the user's checkout stays as it was."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from repo_helpers import commit, git, make_repo, snapshot

from engine.workspace import GitWorkspaces
from engine.workspace_errors import WorkspaceError


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


# -- checkouts that fail -------------------------------------------------------------------------


async def test_a_checkout_its_filter_cannot_make_is_a_one_line_workspace_error(
    tmp_path: Path, worktree_root: Path
):
    """``.gitattributes`` names a filter (LFS-like) whose program is not installed and that
    the config marks required: ``git worktree add`` fails, and the run crashed with an
    "internal error: GitCommandError" and a traceback."""
    repo = make_repo(
        tmp_path / "repo",
        {".gitattributes": "*.bin filter=big\n", "data.bin": "payload\n", "a.py": "x = 1\n"},
    )
    git(repo, "config", "filter.big.smudge", "shopfloor-no-such-filter smudge %f")
    git(repo, "config", "filter.big.clean", "shopfloor-no-such-filter clean %f")
    git(repo, "config", "filter.big.required", "true")
    # git status fails here too (the filter cleans a file it cannot stat as unchanged):
    # the refs and the index say the user's checkout was left alone.
    index = (repo / ".git" / "index").read_bytes()
    refs = git(repo, "for-each-ref", "refs/tags", "refs/heads/main")
    ws = open_ws(repo, worktree_root)
    await ws.start()
    with pytest.raises(WorkspaceError) as exc:
        await ws.add_worktree("t1", ws.integration_tip())
    text = one_line(exc)
    assert text.startswith(f"cannot check out {ws.base_commit[:10]} in a worktree of {repo}: ")
    assert "smudge filter big failed" in text
    await ws.cleanup()
    assert (repo / ".git" / "index").read_bytes() == index
    assert git(repo, "for-each-ref", "refs/tags", "refs/heads/main") == refs
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


# -- branch names ----------------------------------------------------------------------------


async def test_a_branch_named_shopfloor_is_said_to_be_in_the_way(
    tmp_path: Path, worktree_root: Path
):
    """git cannot have a branch ``shopfloor`` and a branch ``shopfloor/wip/RUN``: the run
    crashed with a GitCommandError ("cannot lock ref") as its internal error."""
    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    git(repo, "branch", "shopfloor")
    ws = open_ws(repo, worktree_root)
    with pytest.raises(WorkspaceError) as exc:
        await ws.start()
    text = one_line(exc)
    assert text == (
        "cannot create the integration branch shopfloor/wip/run1: the branch shopfloor is in "
        "the way (git cannot have both); rename it with `git branch -m shopfloor NEW-NAME`"
    )
    assert git(repo, "rev-parse", "shopfloor") == git(repo, "rev-parse", "main")


async def test_a_shipped_branch_a_branch_is_in_the_way_of_is_refused_in_one_line(
    tmp_path: Path, worktree_root: Path
):
    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    ws = open_ws(repo, worktree_root)
    tip = await ws.start()
    git(repo, "branch", "shopfloor/feature")
    with pytest.raises(WorkspaceError) as exc:
        await ws.ship("shopfloor/feature/add-x", tip)
    assert one_line(exc).startswith(
        "cannot create the branch shopfloor/feature/add-x: the branch shopfloor/feature is in "
        "the way"
    )


# -- SHA-256 repositories -----------------------------------------------------------------------


@pytest.fixture
def sha256_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo256"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main", "--object-format=sha256")
    (repo / "a.py").write_text("x = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


async def test_a_sha256_repository_builds_and_ships(sha256_repo: Path, worktree_root: Path):
    """GitPython reads a HEAD of 40 hex digits only: in a worktree of a SHA-256 repository
    (a detached HEAD of 64) the first attempt crashed with "Failed to parse reference
    information from 'HEAD'". The factory reads HEAD through git."""
    before = snapshot(sha256_repo)
    ws = open_ws(sha256_repo, worktree_root)
    head = git(sha256_repo, "rev-parse", "HEAD")
    assert len(head) == 64 and ws.base_commit == head and ws.base_branch == "main"
    await ws.start()
    wt = await ws.add_worktree("t1", ws.integration_tip())
    (wt / "b.py").write_text("y = 2\n")
    commit = await ws.commit_all(wt, "Task b")
    assert commit is not None and len(commit) == 64
    await ws.remove_worktree(wt)
    candidate = await ws.prepare_merge("b", commit, "Task b")
    assert candidate.commit is not None and len(candidate.commit) == 64
    await ws.advance(candidate.commit, candidate.base)
    await ws.remove_worktree(candidate.worktree)
    await ws.ship("shopfloor/b", candidate.commit)
    await ws.cleanup()
    assert git(sha256_repo, "show", "shopfloor/b:b.py") == "y = 2"
    assert snapshot(sha256_repo) == before


async def test_a_detached_sha256_checkout_is_read(sha256_repo: Path, worktree_root: Path):
    git(sha256_repo, "checkout", "-q", "--detach")
    ws = open_ws(sha256_repo, worktree_root)
    assert ws.base_branch == "HEAD"
    assert ws.base_commit == git(sha256_repo, "rev-parse", "HEAD")


# -- a sparse checkout ---------------------------------------------------------------------------


async def test_a_sparse_checkout_of_the_users_leaves_the_runs_worktrees_whole(
    tmp_path: Path, worktree_root: Path
):
    """The user works on ``pkg/`` only (``git sparse-checkout set pkg``): each attempt's
    worktree followed that, so its gates ran without ``tests/``, and its commit failed
    ("paths ... exist outside of your sparse-checkout definition": a GitCommandError, the
    run's internal error) as soon as the engineer wrote a test."""
    repo = make_repo(
        tmp_path / "repo",
        {"pkg/mod.py": "x = 1\n", "tests/test_mod.py": "def test_x():\n    pass\n"},
    )
    git(repo, "sparse-checkout", "set", "--cone", "pkg")
    assert not (repo / "tests").exists()
    before = snapshot(repo)
    config = (repo / ".git" / "config").read_bytes()
    ws = open_ws(repo, worktree_root)
    await ws.start()
    wt = await ws.add_worktree("t1", ws.integration_tip())
    assert (wt / "tests" / "test_mod.py").is_file()
    (wt / "tests" / "test_new.py").write_text("def test_new():\n    pass\n")
    commit = await ws.commit_all(wt, "Task new test")
    assert commit is not None
    assert ws.changed_files(commit) == ["tests/test_new.py"]
    await ws.remove_worktree(wt)
    candidate = await ws.prepare_merge("new", commit, "Task new test")
    assert candidate.commit is not None, candidate.conflict
    await ws.cleanup()
    assert snapshot(repo) == before
    assert (repo / ".git" / "config").read_bytes() == config
    assert git(repo, "sparse-checkout", "list") == "pkg"


# -- the user's diff settings --------------------------------------------------------------------


async def test_the_diffs_the_reviewers_read_are_patches_whatever_the_users_diff_settings(
    tmp_path: Path, worktree_root: Path
):
    """``diff.external`` (difftastic's set-up) and ``color.ui=always`` in the user's config:
    the task reviewer's diff (:meth:`GitWorkspaces.diff`) and QC's (``ws.repo.git.diff``)
    were the external program's output in colour; with that program gone, QC failed the run
    ("code QC failed: Cmd('git') failed")."""
    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    tool = tmp_path / "difft"
    tool.write_text("#!/bin/sh\necho 'EXTERNAL DIFF OF' \"$1\"\n")
    tool.chmod(0o755)
    git(repo, "config", "diff.external", str(tool))
    git(repo, "config", "color.ui", "always")
    ws = open_ws(repo, worktree_root)
    base = await ws.start()
    wt = await ws.add_worktree("t1", base)
    (wt / "a.py").write_text("x = 2\n")
    commit = await ws.commit_all(wt, "Task a")
    assert commit is not None
    for text in (ws.diff(commit), str(ws.repo.git.diff("--stat", "--patch", base, commit))):
        assert "-x = 1\n+x = 2" in text
        assert "EXTERNAL" not in text and "\x1b[" not in text
    assert "EXTERNAL DIFF OF a.py" in git(wt, "diff", "HEAD~1")  # the user's git diff
    tool.unlink()  # uninstalled since
    assert "+x = 2" in ws.diff(commit)
    await ws.cleanup()


# -- files the repository ignores ----------------------------------------------------------------


async def test_the_files_a_task_names_are_committed_where_gitignore_ignores_them(
    tmp_path: Path, worktree_root: Path
):
    """The classic Python ``.gitignore`` ignores ``lib/``: a task's ``pkg/lib/util.py`` was
    left out of its commit (``git add -A``), while its gates, run on the worktree, passed
    with the file there; the shipped branch did not import."""
    repo = make_repo(
        tmp_path / "repo", {".gitignore": "lib/\n*.log\n", "pkg/__init__.py": "", "a.py": ""}
    )
    ws = open_ws(repo, worktree_root)
    await ws.start()
    wt = await ws.add_worktree("t1", ws.integration_tip())
    (wt / "pkg" / "lib").mkdir()
    (wt / "pkg" / "lib" / "util.py").write_text("def util():\n    return 1\n")
    (wt / "pkg" / "lib" / "__pycache__").mkdir()
    (wt / "pkg" / "lib" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"junk")
    (wt / "pkg" / "use.py").write_text("from pkg.lib.util import util\n")
    (wt / "debug.log").write_text("ignored, and named by no task\n")
    commit = await ws.commit_all(
        wt, "Task util", keep=["pkg/lib/util.py", "pkg/use.py", "pkg/gone.py", "../outside"]
    )
    assert commit is not None
    assert sorted(ws.changed_files(commit)) == ["pkg/lib/util.py", "pkg/use.py"]
    assert git(repo, "show", f"{commit}:pkg/lib/util.py").startswith("def util")


async def test_an_ignored_source_file_no_task_names_is_said_when_it_is_left_out(
    tmp_path: Path, worktree_root: Path
):
    """An engineer's ``lib/helpers.py`` that the plan did not name was dropped from the
    commit without a word: the merge gates failed on the import, and nothing said why."""
    repo = make_repo(tmp_path / "repo", {".gitignore": "lib/\n*.log\nnode_modules/\n", "a.py": ""})
    ws = open_ws(repo, worktree_root)
    await ws.start()
    wt = await ws.add_worktree("t1", ws.integration_tip())
    (wt / "lib").mkdir()
    (wt / "lib" / "helpers.py").write_text("def helper():\n    return 1\n")
    (wt / "lib" / "__pycache__").mkdir()
    (wt / "lib" / "__pycache__" / "helpers.cpython-311.pyc").write_bytes(b"junk")
    (wt / "node_modules" / "left").mkdir(parents=True)
    (wt / "node_modules" / "left" / "index.js").write_text("module.exports = 1\n")
    (wt / "debug.log").write_text("a log, not code\n")
    (wt / "a.py").write_text("from lib.helpers import helper\n")
    said: list[str] = []
    commit = await ws.commit_all(wt, "Task a", note=said.append)
    assert commit is not None and ws.changed_files(commit) == ["a.py"]
    (line,) = [s for s in said if "not committed" in s]
    assert "lib/helpers.py" in line
    assert "node_modules" not in line and ".pyc" not in line and "debug.log" not in line

    said.clear()  # named by the task's plan: committed, and nothing to say
    wt2 = await ws.add_worktree("t2", ws.integration_tip())
    (wt2 / "lib").mkdir()
    (wt2 / "lib" / "helpers.py").write_text("def helper():\n    return 1\n")
    assert await ws.commit_all(wt2, "Task b", note=said.append, keep=["lib/helpers.py"])
    assert not [s for s in said if "not committed" in s]


# -- the user's own worktrees ----------------------------------------------------------------


async def test_a_users_worktree_whose_folder_is_away_is_not_pruned(
    tmp_path: Path, worktree_root: Path
):
    """``git worktree prune`` at the end of each run forgot every worktree whose folder was
    missing: the user's on a drive not mounted just now came back as "not a git
    repository". The factory forgets only its own."""
    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    side = tmp_path / "usb" / "side"
    git(repo, "worktree", "add", "-q", "-b", "side", str(side))
    side.rename(tmp_path / "away")  # unmounted
    ws = open_ws(repo, worktree_root)
    await ws.start()
    wt = await ws.add_worktree("t1", ws.integration_tip())
    (wt / "b.py").write_text("y = 2\n")
    await ws.commit_all(wt, "Task b")
    gone = await ws.add_worktree("t2", ws.integration_tip())
    shutil.rmtree(gone)  # one of the run's, its folder deleted under it
    again = await ws.add_worktree("t2", ws.integration_tip())  # its name is free again
    assert (again / "a.py").is_file()
    await ws.cleanup()
    (tmp_path / "away").rename(side)  # mounted again
    assert git(side, "rev-parse", "--abbrev-ref", "HEAD") == "side"
    listed = git(repo, "worktree", "list", "--porcelain")
    assert listed.count("worktree ") == 2 and str(worktree_root) not in listed


# -- what the user does in the repository while an attempt runs -----------------------------


def users_doings(repo: Path) -> None:
    """What a user does in their repository while a run goes on: a tag, the upstream a
    ``git push -u`` records, a remote, a hook."""
    git(repo, "tag", "v1.0")
    git(repo, "config", "branch.main.remote", "origin")
    git(repo, "remote", "add", "upstream", "https://example.invalid/upstream.git")
    hook = repo / ".git" / "hooks" / "pre-push"
    hook.write_text("#!/bin/sh\nexit 0\n")
    hook.chmod(0o755)


@pytest.mark.parametrize("jailed", [True, False])
async def test_what_the_user_does_meanwhile_stays_when_agents_are_jailed(
    tmp_path: Path, worktree_root: Path, jailed: bool
):
    """Under bubblewrap the built-in engineer's commands see the git directory read-only:
    nothing changed there during its attempt is the agent's. The guard put it all back and
    blamed the agent ("deleted refs/tags/v1.0, which the agent created"). An agent that is
    not jailed (an external coding agent) is still guarded, the user's tag with it."""
    repo = make_repo(tmp_path / "repo", {"a.py": "x = 1\n"})
    ws = GitWorkspaces(repo, "run1", worktree_root, agents_jailed=jailed)
    await ws.start()
    wt = await ws.add_worktree("t1", ws.integration_tip())
    (wt / "b.py").write_text("y = 2\n")
    users_doings(repo)
    notes: list[str] = []
    assert await ws.commit_all(wt, "Task b", note=notes.append) is not None
    await ws.cleanup()
    kept = {
        "tag": git(repo, "tag") == "v1.0",
        "upstream": "origin" in (repo / ".git" / "config").read_text(),
        "remote": "upstream" in git(repo, "remote"),
        "hook": (repo / ".git" / "hooks" / "pre-push").is_file(),
    }
    if jailed:
        assert all(kept.values()), kept
        assert notes == []
    else:
        assert not any(kept.values()), kept
        assert "deleted refs/tags/v1.0, which the agent created" in notes
