"""Removing a worktree takes it from git at once and deletes its files after, outside the
lock every worktree and merge of the run waits on: on 7,800 files the deletion took 20 s."""

from __future__ import annotations

from pathlib import Path

import pytest
from git_trace import trace_git
from repo_helpers import git

from engine.workspace import TRASH, GitWorkspaces


async def test_a_removed_worktree_is_gone_from_git_before_its_files_are_deleted(
    user_repo: Path, worktree_root: Path
):
    ws = GitWorkspaces(user_repo, "run1", worktree_root)
    await ws.start()
    wt = await ws.add_worktree("core-a1", ws.integration_tip())
    (wt / "big.txt").write_text("x" * 1000)
    await ws.remove_worktree(wt)
    # Returned before the deletion ran: the files wait aside, the worktree is git's no more.
    aside = list((worktree_root / "run1" / TRASH).iterdir())
    assert [p.name.rsplit("-", 1)[0] for p in aside] == ["core-a1"]
    assert (aside[0] / "big.txt").exists() and not wt.exists()
    assert str(wt) not in git(user_repo, "worktree", "list", "--porcelain")
    again = await ws.add_worktree("core-a1", ws.integration_tip())  # its name is free
    assert again == wt and (again / "README.md").exists()
    await ws.cleanup()  # waits for the deletions
    assert not (worktree_root / "run1").exists()
    assert git(user_repo, "worktree", "list", "--porcelain").count("worktree ") == 1


async def test_cleanup_deletes_the_removed_files_without_asking_git(
    user_repo: Path, worktree_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The folder of removed worktrees' files went through ``git worktree remove``, which
    refused it (no worktree), then a plain delete: a git process spent at every run's end."""
    ws = GitWorkspaces(user_repo, "run1", worktree_root)
    await ws.start()
    await ws.remove_worktree(await ws.add_worktree("core-a1", ws.integration_tip()))
    traced = trace_git(monkeypatch, tmp_path / "git.log")
    await ws.cleanup(keep_builds=True)
    assert traced.count("worktree remove") == 0
    assert not (worktree_root / "run1" / TRASH).exists()
