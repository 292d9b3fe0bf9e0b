"""GitWorkspaces against real repositories: worktrees, squashed merges, shipping — beside the
user's checkout, never in it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from repo_helpers import GIT_ENV, agent_git, git, make_repo, snapshot

from engine.request_title import slugify
from engine.workspace import GitWorkspaces
from engine.workspace_errors import WorkspaceError

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def open_ws(repo: Path, worktree_root: Path, run_id: str = "run1") -> GitWorkspaces:
    return GitWorkspaces(repo, run_id, worktree_root)


async def task_commit(ws: GitWorkspaces, name: str, files: dict[str, str], message: str) -> str:
    """Do one task's work in its own worktree and return its commit."""
    wt = await ws.add_worktree(name, ws.integration_tip())
    for rel, content in files.items():
        (wt / rel).parent.mkdir(parents=True, exist_ok=True)
        (wt / rel).write_text(content)
    commit = await ws.commit_all(wt, message)
    assert commit is not None
    await ws.remove_worktree(wt)
    return commit


async def land(ws: GitWorkspaces, task_id: str, commit: str, message: str) -> str:
    candidate = await ws.prepare_merge(task_id, commit, message)
    assert candidate.commit is not None, candidate.conflict
    await ws.advance(candidate.commit, candidate.base)
    await ws.remove_worktree(candidate.worktree)
    return candidate.commit


# -- refusing what cannot be used ------------------------------------------------------------


def test_a_directory_that_is_not_a_repository_is_refused(tmp_path: Path, worktree_root: Path):
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(WorkspaceError, match=r"^not a git repository: .*plain$"):
        open_ws(plain, worktree_root)


def test_a_folder_of_files_is_told_the_commands_that_make_it_a_repository(
    tmp_path: Path, worktree_root: Path
):
    """An unpacked sdist (python-dotenv's) was refused as 'not a git repository: PATH',
    without a word that `git init` alone leaves a run building from an empty tree. The
    commands the line gives, pasted, make a repository a run builds from."""
    sdist = tmp_path / "python dotenv-1.2.4"
    (sdist / "src").mkdir(parents=True)
    (sdist / "src" / "dotenv.py").write_text("X = 1\n")
    with pytest.raises(WorkspaceError) as refused:
        open_ws(sdist, worktree_root)
    said = str(refused.value)
    assert said.startswith(f"not a git repository: {sdist} (a run builds from a commit: ")
    pasted = said.partition("a run builds from a commit: ")[2].removesuffix(")")
    env = {**os.environ, **GIT_ENV}
    subprocess.run(pasted, shell=True, check=True, env=env, capture_output=True)
    ws = open_ws(sdist, worktree_root)
    assert ws.tracked_files() == ["src/dotenv.py"]  # the files, committed, are the run's


def test_a_missing_directory_is_refused(tmp_path: Path, worktree_root: Path):
    with pytest.raises(WorkspaceError, match="not a git repository"):
        open_ws(tmp_path / "nowhere", worktree_root)


async def test_a_repository_without_commits_starts_from_an_empty_root_commit(
    tmp_path: Path, worktree_root: Path
):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q", "-b", "trunk")
    (fresh / "notes.txt").write_text("the user's, not committed\n")
    before = git(fresh, "status", "--porcelain", "--branch", "--untracked-files=all")
    ws = open_ws(fresh, worktree_root)
    assert ws.unborn and ws.base_branch == "trunk"
    base = ws.base_commit
    assert ws.base_commit == base, "made once"
    assert git(fresh, "cat-file", "-p", base).startswith(f"tree {EMPTY_TREE}\n")
    assert git(fresh, "rev-list", "--count", base) == "1", "a root commit"
    assert ws.tracked_files() == []
    assert await ws.start() == base
    commit = await task_commit(ws, "core", {"core.txt": "core\n"}, "Task core")
    tip = await land(ws, "core", commit, "Task core")
    assert git(fresh, "rev-parse", f"{tip}~1") == base
    # The user's branch is still unborn and their files untouched: nothing moved but ours.
    assert git(fresh, "symbolic-ref", "HEAD") == "refs/heads/trunk"
    assert git(fresh, "for-each-ref", "--format=%(refname)", "refs/heads/") == (
        "refs/heads/shopfloor/wip/run1"
    )
    assert git(fresh, "status", "--porcelain", "--branch", "--untracked-files=all") == before
    assert (fresh / "notes.txt").read_text() == "the user's, not committed\n"


# -- the integration branch and attempt worktrees ----------------------------------------------


async def test_start_creates_the_integration_branch_at_the_users_head(
    user_repo: Path, worktree_root: Path
):
    ws = open_ws(user_repo, worktree_root)
    head = git(user_repo, "rev-parse", "HEAD")
    assert (ws.base_branch, ws.base_commit) == ("main", head)
    assert await ws.start() == head
    assert git(user_repo, "rev-parse", "refs/heads/shopfloor/wip/run1") == head
    assert ws.integration_tip() == head


async def test_start_keeps_an_existing_integration_branch_for_resume(
    user_repo: Path, worktree_root: Path
):
    ws = open_ws(user_repo, worktree_root)
    await ws.start()
    moved = await land(ws, "a", await task_commit(ws, "a-a1", {"a.txt": "a\n"}, "Add a"), "Add a")
    again = open_ws(user_repo, worktree_root)
    assert await again.start() == moved


def test_a_missing_integration_branch_is_a_clear_error(user_repo: Path, worktree_root: Path):
    ws = open_ws(user_repo, worktree_root)
    with pytest.raises(WorkspaceError, match=r"^integration branch shopfloor/wip/run1 is missing$"):
        ws.integration_tip()


async def test_tracked_files_lists_the_base_commit_not_the_working_tree(
    user_repo: Path, worktree_root: Path
):
    ws = open_ws(user_repo, worktree_root)
    assert ws.tracked_files() == ["CHANGELOG.md", "README.md", "greet/__init__.py", "greet/core.py"]


async def test_a_worktree_starts_from_the_commit_without_the_users_local_changes(
    user_repo: Path, worktree_root: Path
):
    ws = open_ws(user_repo, worktree_root)
    await ws.start()
    wt = await ws.add_worktree("core-a1", ws.integration_tip())
    assert wt.parent == worktree_root / "run1"
    assert "return f'hello {name}'" in (wt / "greet" / "core.py").read_text()
    assert not (wt / "notes.txt").exists()


async def test_commit_all_commits_the_work_and_leaves_tool_junk_out(
    user_repo: Path, worktree_root: Path
):
    ws = open_ws(user_repo, worktree_root)
    await ws.start()
    wt = await ws.add_worktree("core-a1", ws.integration_tip())
    (wt / "greet" / "core.py").write_text("def greet(name):\n    return f'hi {name}'\n")
    (wt / "tests").mkdir()
    (wt / "tests" / "test_core.py").write_text("def test(): pass\n")
    junk = [
        "__pycache__/x.pyc",
        "greet/__pycache__/core.cpython-311.pyc",
        "tests/__pycache__/test_core.cpython-311-pytest-8.pyc",
        "stray.pyc",
        ".pytest_cache/v/cache/lastfailed",
        "tests/.pytest_cache/README.md",
        ".mypy_cache/3.11/x.json",
        ".ruff_cache/0.6/abc",
        "greet/.mypy_cache/3.11/core.data.json",  # a subproject's tools, run in its folder
        "greet/.ruff_cache/0.6/def",
    ]
    for rel in junk:
        (wt / rel).parent.mkdir(parents=True, exist_ok=True)
        (wt / rel).write_bytes(b"\x00junk")
    commit = await ws.commit_all(wt, "Make greet friendlier\n\nhi instead of hello")
    assert commit is not None
    assert sorted(ws.changed_files(commit)) == ["greet/core.py", "tests/test_core.py"]
    assert git(user_repo, "log", "-1", "--format=%s", commit) == "Make greet friendlier"
    assert git(user_repo, "rev-parse", f"{commit}^") == ws.integration_tip()


async def test_commit_all_returns_none_when_only_junk_or_nothing_changed(
    user_repo: Path, worktree_root: Path
):
    ws = open_ws(user_repo, worktree_root)
    await ws.start()
    wt = await ws.add_worktree("idle-a1", ws.integration_tip())
    assert await ws.commit_all(wt, "nothing") is None
    (wt / "greet" / "__pycache__").mkdir()
    (wt / "greet" / "__pycache__" / "core.cpython-311.pyc").write_bytes(b"junk")
    assert await ws.commit_all(wt, "only junk") is None


async def test_an_agent_that_commits_its_own_work_gets_one_commit_without_its_junk(
    user_repo: Path, worktree_root: Path
):
    """Claude Code often runs ``git add -A`` and ``git commit`` itself: its work is the
    attempt's, not "no files changed", and the __pycache__ its add swept in stays out."""
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    wt = await ws.add_worktree("core-a1", base)
    (wt / "greet" / "core.py").write_text("def greet(name):\n    return f'hi {name}'\n")
    (wt / "greet" / "__pycache__").mkdir()
    (wt / "greet" / "__pycache__" / "core.cpython-311.pyc").write_bytes(b"\x00junk")
    agent_git(wt, "add", "-A")
    agent_git(wt, "commit", "-q", "-m", "agent: friendlier greet")
    (wt / "notes.md").write_text("left untracked after its commit\n")
    commit = await ws.commit_all(wt, "Make greet friendlier")
    assert commit is not None
    assert sorted(ws.changed_files(commit)) == ["greet/core.py", "notes.md"]
    assert git(user_repo, "rev-parse", f"{commit}^") == base
    assert git(user_repo, "log", "-1", "--format=%s", commit) == "Make greet friendlier"
    # Only staged, never committed: the junk in the index stays out too.
    wt2 = await ws.add_worktree("core-a2", base)
    (wt2 / "greet" / "core.py").write_text("def greet(name):\n    return name\n")
    (wt2 / "greet" / "__pycache__").mkdir()
    (wt2 / "greet" / "__pycache__" / "core.cpython-311.pyc").write_bytes(b"\x00junk")
    agent_git(wt2, "add", "-A")
    staged = await ws.commit_all(wt2, "Plainer greet")
    assert staged is not None and ws.changed_files(staged) == ["greet/core.py"]


async def test_a_branch_an_agent_checks_out_in_its_worktree_is_deleted_or_put_back(
    user_repo: Path, worktree_root: Path
):
    """The agent's own branch does not stay in the user's repository; a branch of the user's
    that the agent checked out and committed on is back where the user left it."""
    git(user_repo, "branch", "feature")
    feature = git(user_repo, "rev-parse", "feature")
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    wt = await ws.add_worktree("core-a1", base)
    agent_git(wt, "checkout", "-q", "-b", "claude/core")
    (wt / "a.py").write_text("A = 1\n")
    agent_git(wt, "add", "a.py")
    agent_git(wt, "commit", "-q", "-m", "agent: a")
    commit = await ws.commit_all(wt, "Add a")
    assert commit is not None and ws.changed_files(commit) == ["a.py"]
    assert git(user_repo, "branch", "--list", "claude/core") == ""
    wt2 = await ws.add_worktree("other-a1", base)
    agent_git(wt2, "checkout", "-q", "feature")
    (wt2 / "b.py").write_text("B = 1\n")
    agent_git(wt2, "add", "b.py")
    agent_git(wt2, "commit", "-q", "-m", "agent: b on the user's branch")
    commit = await ws.commit_all(wt2, "Add b")
    assert commit is not None and ws.changed_files(commit) == ["b.py"]
    assert git(user_repo, "rev-parse", "feature") == feature
    assert git(user_repo, "branch", "--show-current") == "main"


async def test_add_worktree_replaces_a_leftover_worktree_of_the_same_name(
    user_repo: Path, worktree_root: Path
):
    ws = open_ws(user_repo, worktree_root)
    await ws.start()
    wt = await ws.add_worktree("core-a1", ws.integration_tip())
    (wt / "leftover.txt").write_text("from a crashed attempt")
    again = await ws.add_worktree("core-a1", ws.integration_tip())
    assert again == wt
    assert not (again / "leftover.txt").exists()


# -- merging -------------------------------------------------------------------------------------


async def test_two_tasks_on_different_files_land_as_one_squashed_commit_each(
    user_repo: Path, worktree_root: Path
):
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    # Both start from the same base, as parallel tasks do; one makes two commits of its own.
    wt_a = await ws.add_worktree("a-a1", base)
    wt_b = await ws.add_worktree("b-a1", base)
    (wt_a / "a.py").write_text("A = 1\n")
    await ws.commit_all(wt_a, "wip 1")
    (wt_a / "a.py").write_text("A = 2\n")
    commit_a = await ws.commit_all(wt_a, "wip 2")
    (wt_b / "docs").mkdir()
    (wt_b / "docs" / "b.md").write_text("# B\n")
    commit_b = await ws.commit_all(wt_b, "Document b")

    await land(ws, "a", commit_a, "Add module a\n\nA is two.")
    tip = await land(ws, "b", commit_b, "Write the b docs")

    assert ws.commits_since_base(tip, base) == ["Add module a", "Write the b docs"]
    assert git(user_repo, "rev-list", "--count", "--merges", f"{base}..{tip}") == "0"
    assert git(user_repo, "log", "-1", "--format=%b", f"{tip}^") == "A is two."
    assert git(user_repo, "show", f"{tip}:a.py") == "A = 2"
    assert git(user_repo, "show", f"{tip}:docs/b.md") == "# B"
    assert ws.changed_files(tip) == ["docs/b.md"]
    assert ws.integration_tip() == tip


async def test_a_conflicting_change_gives_a_candidate_without_commit_and_the_conflict(
    user_repo: Path, worktree_root: Path
):
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    first = await task_commit(ws, "x-a1", {"README.md": "# Greeter\n\nSays hi.\n"}, "x")
    second = await task_commit(ws, "y-a1", {"README.md": "# Greeter\n\nSays howdy.\n"}, "y")
    tip = await land(ws, "x", first, "Say hi")

    candidate = await ws.prepare_merge("y", second, "Say howdy")
    assert candidate.commit is None
    assert candidate.base == tip
    assert "README.md" in candidate.conflict
    assert "conflict" in candidate.conflict.lower()
    assert ws.integration_tip() == tip  # nothing moved
    assert ws.commits_since_base(tip, base) == ["Say hi"]
    # The merge worktree was put back clean, so removing or reusing it is safe.
    assert git(candidate.worktree, "status", "--porcelain") == ""
    await ws.remove_worktree(candidate.worktree)
    assert not candidate.worktree.exists()


async def test_advance_with_a_stale_expected_old_value_refuses_to_move(
    user_repo: Path, worktree_root: Path
):
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    a = await task_commit(ws, "a-a1", {"a.txt": "a\n"}, "a")
    b = await task_commit(ws, "b-a1", {"b.txt": "b\n"}, "b")
    cand_a = await ws.prepare_merge("a", a, "Add a")
    cand_b = await ws.prepare_merge("b", b, "Add b")  # also built on base
    await ws.advance(cand_a.commit, base)
    with pytest.raises(WorkspaceError, match="integration branch") as caught:
        await ws.advance(cand_b.commit, base)  # base is stale now
    assert "\n" not in str(caught.value)
    assert ws.integration_tip() == cand_a.commit


# -- shipping and cleanup ----------------------------------------------------------------------


async def test_ship_creates_the_branch_and_refuses_to_move_an_existing_one(
    user_repo: Path, worktree_root: Path
):
    ws = open_ws(user_repo, worktree_root)
    await ws.start()
    tip = await land(ws, "a", await task_commit(ws, "a-a1", {"a.txt": "a\n"}, "a"), "Add a")
    main_before = git(user_repo, "rev-parse", "main")

    with pytest.raises(WorkspaceError, match=r"^branch main already exists; refusing to move it$"):
        await ws.ship("main", tip)
    assert git(user_repo, "rev-parse", "main") == main_before

    assert await ws.ship("shopfloor/add-a", tip) == "shopfloor/add-a"
    assert git(user_repo, "rev-parse", "shopfloor/add-a") == tip
    with pytest.raises(WorkspaceError, match="already exists"):
        await ws.ship("shopfloor/add-a", ws.base_commit)
    assert git(user_repo, "rev-parse", "shopfloor/add-a") == tip


async def test_cleanup_removes_every_worktree_and_the_integration_branch_can_go(
    user_repo: Path, worktree_root: Path
):
    ws = open_ws(user_repo, worktree_root)
    await ws.start()
    await ws.add_worktree("a-a1", ws.integration_tip())
    await ws.add_worktree("b-a1", ws.integration_tip())
    await ws.cleanup()
    assert not (worktree_root / "run1").exists()
    assert git(user_repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    await ws.delete_integration_branch()
    assert ws.branch_tip(ws.integration_branch) is None
    await ws.delete_integration_branch()  # idempotent


async def test_the_users_checkout_is_byte_identical_after_all_of_it(
    user_repo: Path, worktree_root: Path
):
    before = snapshot(user_repo)
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    # Tasks that touch the very file the user has modified, and one that conflicts.
    a = await task_commit(ws, "a-a1", {"greet/core.py": "def greet(n):\n    return 'yo'\n"}, "a")
    b = await task_commit(ws, "b-a1", {"notes.txt": "factory notes\n", "b.py": "B = 1\n"}, "b")
    c = await task_commit(ws, "c-a1", {"greet/core.py": "def greet(n):\n    return 'hey'\n"}, "c")
    await land(ws, "a", a, "Say yo")
    tip = await land(ws, "b", b, "Add b")
    conflicted = await ws.prepare_merge("c", c, "Say hey")
    assert conflicted.commit is None
    with pytest.raises(WorkspaceError):
        await ws.advance(base, base)
    await ws.ship("shopfloor/done", tip)
    with pytest.raises(WorkspaceError):
        await ws.ship("main", tip)
    await ws.cleanup()
    await ws.delete_integration_branch()

    assert snapshot(user_repo) == before
    assert (user_repo / "greet" / "core.py").read_text().endswith("# wip\n")
    assert (user_repo / "notes.txt").read_text() == "my private notes\n"


def test_a_detached_head_is_reported_as_such(tmp_path: Path, worktree_root: Path):
    repo = make_repo(tmp_path / "r", {"a.txt": "a\n"})
    git(repo, "checkout", "-q", "--detach")
    assert open_ws(repo, worktree_root).base_branch == "HEAD"


def test_slugify_makes_branch_safe_names():
    assert slugify("Build a greeting CLI!") == "build-a-greeting-cli"
    assert slugify("Ünïcode / paths: ../x") == "n-code-paths-x"
    assert slugify("???") == "run"
    assert len(slugify("word " * 40)) <= 32
    assert not slugify("word " * 40).endswith("-")


def test_git_commands_run_out_of_the_terminals_process_group(
    tmp_path: Path, worktree_root: Path
) -> None:
    """A terminal's Ctrl-C or hang-up reaches its foreground process group; the run stops its
    own work, so a git command it started must not die of the same signal."""
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    ws = open_ws(repo, worktree_root)
    probe = "import os; print(os.getsid(0), os.getpgrp())"
    session, group = map(int, ws.repo.git.execute([sys.executable, "-c", probe]).split())
    assert session != os.getsid(0)
    assert group != os.getpgrp()


# -- what an agent does to the repository beyond its worktree ---------------------------------


def hook_writing(marker: Path) -> str:
    return f"#!/bin/sh\necho \"$0\" >> '{marker}'\n"


async def test_no_hook_or_fsmonitor_command_of_the_repository_runs_in_the_factorys_git(
    user_repo: Path, worktree_root: Path, tmp_path: Path
):
    """Hooks and ``core.fsmonitor`` run commands: left by an agent working beside this
    attempt (no fence, not put back yet), they ran inside the factory's worktree add,
    commit, cherry-pick and update-ref, with the factory's environment. None runs now."""
    marker = tmp_path / "ran.log"
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    wt = await ws.add_worktree("core-a1", base)
    hooks = user_repo / ".git" / "hooks"
    for name in ("post-checkout", "reference-transaction", "post-commit", "prepare-commit-msg"):
        (hooks / name).write_text(hook_writing(marker))
        (hooks / name).chmod(0o755)
    git(user_repo, "config", "core.fsmonitor", f"echo fsmonitor >> '{marker}'; false")
    (wt / "a.py").write_text("A = 1\n")
    commit = await ws.commit_all(wt, "Add a", note=lambda _line: None)
    assert commit is not None
    await land(ws, "a", commit, "Add a")
    assert not marker.exists(), marker.read_text()


async def test_a_user_who_signs_every_commit_can_still_build(
    user_repo: Path, worktree_root: Path, tmp_path: Path
):
    """``commit.gpgsign`` (and ``tag.gpgsign``) in the user's config made every attempt's
    commit and every merge fail ("gpg failed to sign the data") or wait on a passphrase.
    The factory's own commits are not the user's to sign: they are made unsigned."""
    failing_gpg = tmp_path / "gpg"
    failing_gpg.write_text("#!/bin/sh\nexit 2\n")
    failing_gpg.chmod(0o755)
    for key, value in (
        ("commit.gpgsign", "true"),
        ("tag.gpgsign", "true"),
        ("gpg.program", str(failing_gpg)),
    ):
        git(user_repo, "config", key, value)
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    wt = await ws.add_worktree("core-a1", base)
    (wt / "a.py").write_text("A = 1\n")
    commit = await ws.commit_all(wt, "Add a", note=lambda _line: None)
    assert commit is not None
    await land(ws, "a", commit, "Add a")
    assert git(user_repo, "config", "commit.gpgsign") == "true"  # the user's config is theirs


async def test_a_change_put_back_for_one_attempt_is_not_brought_back_by_another(
    user_repo: Path, worktree_root: Path
):
    """Attempt b starts after a's agent tagged and moved ``feature``: b's record holds the
    agent's refs. Once a's are put back, b's putting back must not bring them back."""
    git(user_repo, "branch", "feature", "HEAD~1")
    feature = git(user_repo, "rev-parse", "feature")
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    wt_a = await ws.add_worktree("a-a1", base)
    agent_git(wt_a, "tag", "agent-v1")
    agent_git(wt_a, "update-ref", "refs/heads/feature", "HEAD")
    wt_b = await ws.add_worktree("b-a1", base)
    notes_a: list[str] = []
    notes_b: list[str] = []
    (wt_a / "a.py").write_text("A = 1\n")
    (wt_b / "b.py").write_text("B = 1\n")
    assert await ws.commit_all(wt_a, "Add a", note=notes_a.append) is not None
    assert await ws.commit_all(wt_b, "Add b", note=notes_b.append) is not None
    assert notes_a == [
        f"put back refs/heads/feature at {feature[:10]} (the agent had moved it to {base[:10]})",
        "deleted refs/tags/agent-v1, which the agent created",
    ]
    assert notes_b == []
    assert git(user_repo, "tag", "--list") == ""
    assert git(user_repo, "rev-parse", "feature") == feature


async def test_the_integration_branch_an_agent_moved_is_put_back_where_the_run_left_it(
    user_repo: Path, worktree_root: Path
):
    """``git branch -f`` on the run's own branch: the next merge refused ("no longer points
    at") and the run failed. The branch is back where the merge queue left it."""
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    tip = await land(ws, "a", await task_commit(ws, "a-a1", {"a.txt": "a\n"}, "a"), "Add a")
    wt = await ws.add_worktree("b-a1", tip)
    agent_git(wt, "branch", "-f", ws.integration_branch, base)
    (wt / "b.txt").write_text("b\n")
    notes: list[str] = []
    commit = await ws.commit_all(wt, "Add b", note=notes.append)
    ref = f"refs/heads/{ws.integration_branch}"
    assert notes == [f"put back {ref} at {tip[:10]} (the agent moved it to {base[:10]})"]
    assert ws.integration_tip() == tip
    assert commit is not None
    await land(ws, "b", commit, "Add b")
    assert ws.commits_since_base(ws.integration_tip(), base) == ["Add a", "Add b"]


async def test_the_users_commit_on_the_checked_out_integration_branch_is_not_put_back(
    user_repo: Path, worktree_root: Path
):
    """A user committed on their checkout of the run's branch. Before, the next attempt's
    put-back took it for an agent's move and moved the branch back under that checkout (the
    commit on no branch, ``git status`` there showing its reverse), and attempts started
    from it. The commit stays; the run's work goes on from the run's own tip."""
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    git(user_repo, "checkout", "-q", ws.integration_branch)
    (user_repo / "mine.txt").write_text("mine\n")
    git(user_repo, "add", "mine.txt")
    git(user_repo, "commit", "-q", "-m", "my own fix")
    mine = git(user_repo, "rev-parse", "HEAD")
    looking = git(user_repo, "status", "--porcelain=v1")
    wt = await ws.add_worktree("a-a1", ws.integration_tip())
    assert not (wt / "mine.txt").exists()  # not built on the user's commit
    (wt / "a.txt").write_text("a\n")
    notes: list[str] = []
    assert await ws.commit_all(wt, "Add a", note=notes.append) is not None
    assert notes == []
    assert git(user_repo, "rev-parse", ws.integration_branch) == mine
    assert git(user_repo, "status", "--porcelain=v1") == looking
    assert ws.integration_tip() == base


async def test_shipping_leaves_an_integration_branch_that_holds_the_users_commits(
    user_repo: Path, worktree_root: Path, caplog: pytest.LogCaptureFixture
):
    """Deleted at ship time, the branch took the user's commits on it to no branch (its
    reflog gone with it)."""
    ws = open_ws(user_repo, worktree_root)
    await ws.start()
    tip = await land(ws, "a", await task_commit(ws, "a-a1", {"a.txt": "a\n"}, "a"), "Add a")
    git(user_repo, "checkout", "-q", ws.integration_branch)
    (user_repo / "mine.txt").write_text("mine\n")
    git(user_repo, "add", "mine.txt")
    git(user_repo, "commit", "-q", "-m", "my own fix")
    mine = git(user_repo, "rev-parse", "HEAD")
    git(user_repo, "checkout", "-q", "-")
    assert ws.integration_tip() == tip != mine
    assert await ws.delete_integration_branch() is None
    assert ws.branch_tip(ws.integration_branch) == mine
    short = git(user_repo, "rev-parse", "--short", mine)
    assert [r.getMessage() for r in caplog.records] == [
        f"{ws.integration_branch} stays: it holds 1 commit(s) the run did not ship: "
        f"{short} my own fix; `git -C {user_repo} branch -D {ws.integration_branch}` deletes it"
    ]


async def test_an_attempt_that_ends_before_its_commit_still_has_its_refs_put_back(
    user_repo: Path, worktree_root: Path
):
    """An attempt cut short (a budget stop, a cancelled run) never reaches commit_all: what
    its agent did is put back when its worktree goes."""
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    wt = await ws.add_worktree("a-a1", base)
    agent_git(wt, "tag", "agent-v1")
    agent_git(wt, "stash", "list")
    await ws.remove_worktree(wt)
    assert git(user_repo, "tag", "--list") == ""


async def test_a_worktree_pointed_at_a_repository_of_the_agents_is_pointed_back(
    user_repo: Path, worktree_root: Path, tmp_path: Path
):
    """The worktree's ``.git`` file says where its repository is: an agent that points it at
    one of its own, with a clean filter in its config (which no ``-c`` switches off), had
    that command run by the factory's ``git add``. The pointer is put back before the factory
    runs git there."""
    marker = tmp_path / "ran.log"
    evil = tmp_path / "evil"
    git(tmp_path, "init", "-q", str(evil))
    git(evil, "config", "filter.agent.clean", f"echo filter >> '{marker}'; cat")
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    wt = await ws.add_worktree("a-a1", base)
    pointer = (wt / ".git").read_text()
    (wt / ".git").write_text(f"gitdir: {evil / '.git'}\n")
    (wt / ".gitattributes").write_text("*.py filter=agent\n")
    (wt / "a.py").write_text("A = 1\n")
    notes: list[str] = []
    commit = await ws.commit_all(wt, "Add a", note=notes.append)
    assert notes == [f"put back {wt / '.git'}, which the agent changed"]
    assert (wt / ".git").read_text() == pointer
    assert commit is not None and ws.changed_files(commit) == [".gitattributes", "a.py"]
    assert not marker.exists()


async def test_what_the_user_commits_or_checks_out_in_their_checkout_meanwhile_stays(
    user_repo: Path, worktree_root: Path
):
    """The user keeps working in their checkout while attempts run. Their commit moved their
    branch, and was put back as if an agent had moved it: the branch rewound under a working
    tree that holds the commit, a note blaming the agent. A checkout of another branch put
    HEAD back the same way. What the checkout itself did (its HEAD's reflog) is the user's."""
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    wt_a = await ws.add_worktree("a-a1", base)
    wt_b = await ws.add_worktree("b-a1", base)
    git(user_repo, "commit", "-q", "-am", "the user's own work")
    mine = git(user_repo, "rev-parse", "HEAD")
    older = git(user_repo, "rev-parse", "HEAD~2")
    agent_git(wt_a, "update-ref", "refs/heads/main", older)  # an agent moves it after the user
    notes: list[str] = []
    (wt_a / "a.py").write_text("A = 1\n")
    assert await ws.commit_all(wt_a, "Add a", note=notes.append) is not None
    assert notes == [
        f"put back refs/heads/main at {mine[:10]} (the agent had moved it to {older[:10]})"
    ]
    assert git(user_repo, "rev-parse", "main") == mine
    git(user_repo, "checkout", "-q", "-b", "topic")
    git(user_repo, "commit", "-q", "--allow-empty", "-m", "more of the user's work")
    topic = git(user_repo, "rev-parse", "HEAD")
    (wt_b / "b.py").write_text("B = 1\n")
    notes.clear()
    assert await ws.commit_all(wt_b, "Add b", note=notes.append) is not None
    assert git(user_repo, "symbolic-ref", "HEAD") == "refs/heads/topic"
    assert git(user_repo, "rev-parse", "topic") == topic
    assert git(user_repo, "rev-parse", "main") == mine
    assert notes == []
    wt_c = await ws.add_worktree("c-a1", base)
    git(user_repo, "checkout", "-q", "-b", "spike")  # a new branch, nothing committed yet
    (wt_c / "c.py").write_text("C = 1\n")
    assert await ws.commit_all(wt_c, "Add c", note=notes.append) is not None
    assert git(user_repo, "symbolic-ref", "HEAD") == "refs/heads/spike"
    assert git(user_repo, "rev-parse", "spike") == topic
    assert notes == []


async def test_a_branch_or_stash_the_user_makes_meanwhile_stays(
    user_repo: Path, worktree_root: Path
):
    """The user branches, stashes and moves a branch of theirs while an attempt runs: none
    of it is the agent's (the reflog line of each is the user's, not the agents'), and none
    of it is put back. The agent's own branch, made at the same time, is deleted."""
    git(user_repo, "branch", "old-topic", "HEAD~1")
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    wt = await ws.add_worktree("a-a1", base)
    agent_git(wt, "branch", "agent-scratch")
    git(user_repo, "branch", "spike")
    git(user_repo, "branch", "-f", "old-topic", "HEAD")
    (user_repo / "greet" / "core.py").write_text("# the user's edit in progress\n")
    git(user_repo, "stash", "push", "-q", "-m", "the user's stash")
    stash = git(user_repo, "stash", "list")
    (wt / "a.py").write_text("A = 1\n")
    notes: list[str] = []
    assert await ws.commit_all(wt, "Add a", note=notes.append) is not None
    assert notes == ["deleted refs/heads/agent-scratch, which the agent created"]
    assert git(user_repo, "rev-parse", "spike") == git(user_repo, "rev-parse", "main")
    assert git(user_repo, "rev-parse", "old-topic") == git(user_repo, "rev-parse", "main")
    assert git(user_repo, "stash", "list") == stash
    assert "the user's stash" in stash


async def test_a_stash_an_agent_pushes_is_put_back_with_the_stash_list(
    user_repo: Path, worktree_root: Path
):
    git(user_repo, "stash", "list")
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    wt = await ws.add_worktree("a-a1", base)
    (wt / "greet" / "core.py").write_text("# the agent's scratch\n")
    agent_git(wt, "stash", "push", "-q", "-m", "the agent's stash")
    (wt / "a.py").write_text("A = 1\n")
    notes: list[str] = []
    assert await ws.commit_all(wt, "Add a", note=notes.append) is not None
    assert git(user_repo, "stash", "list") == ""
    assert any(note.startswith("deleted refs/stash") for note in notes), notes


async def test_the_factorys_git_never_packs_or_prunes_the_users_objects_on_its_own(
    user_repo: Path, worktree_root: Path, tmp_path: Path
):
    """``git commit`` runs ``gc --auto``: with enough loose objects it packed them, which the
    repo guard saw as objects vanishing (a notice blaming the agent, and a ``git fsck`` of the
    whole history). The factory's git leaves housekeeping to the user's."""
    git(user_repo, "config", "gc.auto", "1")  # any loose object sampled is too many
    git(user_repo, "config", "gc.autoDetach", "false")
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    paths = []
    for i in range(600):  # enough that git's sample of one objects/ folder sees several
        (blobs / str(i)).write_text(f"loose {i}\n")
        paths.append(str(blobs / str(i)))
    git(user_repo, "hash-object", "-w", *paths)
    packs = set((user_repo / ".git" / "objects" / "pack").glob("*.pack"))

    ws = open_ws(user_repo, worktree_root)
    await ws.start()
    commit = await task_commit(ws, "core-a1", {"a.py": "A = 1\n"}, "Add a")
    await land(ws, "a", commit, "Add a")

    assert set((user_repo / ".git" / "objects" / "pack").glob("*.pack")) == packs


async def test_a_filter_an_agent_names_runs_in_the_factorys_git_without_its_secrets(
    user_repo: Path, worktree_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """An agent may write its worktree's ``.gitattributes`` and, under the fence, its home's
    git config: a ``filter`` driver it defines there runs inside the factory's ``git add``.
    The keys and the token the agent was not given must not be in that driver's environment."""
    secret = "sk-ant-" + "k3y" * 10
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "t0ken" * 8)
    seen = tmp_path / "seen-by-the-filter"
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(f'[filter "snoop"]\n\tclean = "env >> {seen}; cat"\n')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    ws = open_ws(user_repo, worktree_root)
    base = await ws.start()
    wt = await ws.add_worktree("core-a1", base)
    (wt / ".gitattributes").write_text("*.py filter=snoop\n")
    (wt / "b.py").write_text("B = 2\n")
    assert await ws.commit_all(wt, "Add b") is not None

    environment = seen.read_text()  # the filter ran
    assert "PATH=" in environment
    assert secret not in environment and "t0ken" not in environment


async def test_git_config_the_user_gives_in_the_environment_reaches_the_factorys_git(
    user_repo: Path, worktree_root: Path, monkeypatch: pytest.MonkeyPatch
):
    """``GIT_CONFIG_COUNT`` with ``GIT_CONFIG_KEY_<n>``/``GIT_CONFIG_VALUE_<n>`` is git's own
    way to set config from the environment (a container's ``safe.directory``). The KEY names
    a setting, not a secret: blanked with the secrets, every git call of the factory died
    with "empty config key"."""
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "safe.directory")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "*")
    ws = open_ws(user_repo, worktree_root)
    await ws.start()
    commit = await task_commit(ws, "core-a1", {"a.py": "A = 1\n"}, "Add a")
    assert ws.changed_files(commit) == ["a.py"]
