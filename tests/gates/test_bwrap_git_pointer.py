"""The jail binds back, read-only, the git directory a linked worktree's ``.git`` file points
at: git in the worktree needs it, and it may lie in the hidden home. The factory read that
pointer from the worktree, which an agent's command may rewrite (the worktree is writable in
the jail, and its pointers are put back only when the attempt ends): ``gitdir: ~/.ssh`` had
the next command's jail show the user's keys. A pointer is followed only to a real
worktree's admin folder, ``<git dir>/worktrees/<name>``, that points back at this worktree;
and the jail binds the pointer read-only over the worktree, as the coding agent's fence does,
so no jailed command rewrites it in the first place."""

from __future__ import annotations

from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from gates.bwrap import git_common_dir, git_read_only
from gates.sandbox import ProcessSandbox

KEY = "-----BEGIN OPENSSH PRIVATE KEY----- canary-9d41\n"


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    main = make_repo(tmp_path / "main", {"a.txt": "a"})
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


@pytest.mark.parametrize(
    "argv",
    [
        ["sh", "-c", "echo 'gitdir: /tmp/x' > .git"],
        ["sh", "-c", "rm -f .git && echo 'gitdir: /tmp/x' > .git"],
        ["sh", "-c", "mv .git moved && echo 'gitdir: /tmp/x' > .git"],
    ],
)
async def test_a_jailed_command_cannot_rewrite_the_pointer(
    bwrap_sandbox: ProcessSandbox, worktree: Path, argv: list[str]
) -> None:
    before = (worktree / ".git").read_bytes()
    result = await bwrap_sandbox.run(argv, worktree)
    assert result.returncode != 0, result.output
    assert (worktree / ".git").read_bytes() == before
    assert not (worktree / "moved").exists()


async def test_git_still_reads_the_worktree_in_the_jail(
    bwrap_sandbox: ProcessSandbox, worktree: Path
) -> None:
    (worktree / "a.txt").write_text("changed")
    result = await bwrap_sandbox.run(["git", "diff", "--stat"], worktree)
    assert result.returncode == 0, result.output
    assert "a.txt" in result.output


def test_a_pointer_not_followed_is_read_only_and_a_git_folder_is_not(tmp_path: Path) -> None:
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / ".git").write_text("gitdir: /nowhere\n")
    assert git_read_only(odd) == [odd / ".git"]
    clone = tmp_path / "clone"
    git(clone.parent, "init", "-q", str(clone))
    assert git_read_only(clone) == []
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / ".git").symlink_to(odd / ".git")
    assert git_read_only(linked) == []
