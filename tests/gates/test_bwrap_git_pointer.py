"""The jail binds back, read-only, the git directory a linked worktree's ``.git`` file points
at: git in the worktree needs it, and it may lie in the hidden home. The factory read that
pointer from the worktree, which an agent's command may rewrite (the worktree is writable in
the jail, and its pointers are put back only when the attempt ends): ``gitdir: ~/.ssh`` had
the next command's jail show the user's keys. A pointer is followed only to a real
worktree's admin folder, ``<git dir>/worktrees/<name>``, that points back at this worktree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gates.bwrap import git_common_dir
from gates.sandbox import ProcessSandbox

KEY = "-----BEGIN OPENSSH PRIVATE KEY----- canary-9d41\n"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    main = tmp_path / "main"
    main.mkdir()
    git(main, "init", "-q")
    (main / "a.txt").write_text("a")
    git(main, "add", "a.txt")
    git(main, "commit", "-q", "-m", "first")
    made = tmp_path / "attempt"
    git(main, "worktree", "add", "-q", "--detach", str(made))
    return made


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    """A folder of the host the jail hides (it lies in the temp folder, as the home does)."""
    folder = tmp_path / "home" / ".ssh"
    folder.mkdir(parents=True)
    (folder / "id_ed25519").write_text(KEY)
    return folder


def forge(worktree: Path, keys: Path, how: str) -> None:
    """What an agent's command writes into its worktree to have ``keys`` bound."""
    if how == "gitdir":
        (worktree / ".git").write_text(f"gitdir: {keys}\n")
    elif how == "commondir":  # an admin folder of its own, whose commondir names the keys
        admin = worktree / "fake" / "worktrees" / "x"
        admin.mkdir(parents=True)
        (admin / "commondir").write_text(f"{keys}\n")
        (admin / "gitdir").write_text(f"{worktree / '.git'}\n")
        (worktree / ".git").write_text(f"gitdir: {admin}\n")
    else:  # a link in the worktree to the keys' folder, as the admin folder's git dir
        (worktree / "fake").symlink_to(keys.parent, target_is_directory=True)
        (worktree / ".git").write_text(f"gitdir: {worktree / 'fake' / '.ssh'}\n")


@pytest.mark.parametrize("how", ["gitdir", "commondir", "link"])
def test_a_forged_pointer_names_no_git_directory(worktree: Path, keys: Path, how: str) -> None:
    forge(worktree, keys, how)
    found = git_common_dir(worktree)
    assert found is None or not found.is_relative_to(keys.parent), found


@pytest.mark.parametrize("how", ["gitdir", "commondir"])
async def test_a_forged_pointer_shows_the_jail_nothing_of_the_host(
    bwrap_sandbox: ProcessSandbox, worktree: Path, keys: Path, how: str
) -> None:
    forge(worktree, keys, how)
    result = await bwrap_sandbox.run(["cat", str(keys / "id_ed25519")], worktree)
    assert "canary-9d41" not in result.output, result.output


def test_the_real_pointer_still_names_the_git_directory(worktree: Path) -> None:
    assert git_common_dir(worktree) == (worktree.parent / "main" / ".git").resolve()
