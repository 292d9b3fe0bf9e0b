"""Node packages are lent only to folders inside the worktree, never through a link out.

The borrowed ``node_modules`` is made in the package folder and removed after the command:
a package folder an agent swapped for a link to a folder outside the worktree had it made,
filled with links and removed there, beside the user's files.
"""

from __future__ import annotations

from pathlib import Path

from engine.borrowed_modules import NODE_MODULES, lent_node_modules


def test_a_package_folder_linked_out_borrows_nothing(tmp_path: Path) -> None:
    checkout, worktree, home = tmp_path / "checkout", tmp_path / "wt", tmp_path / "home"
    (checkout / "web" / NODE_MODULES / "vitest").mkdir(parents=True)
    (checkout / NODE_MODULES / "vitest").mkdir(parents=True)
    (worktree / "lib").mkdir(parents=True)
    home.mkdir()
    (worktree / "web").symlink_to(home, target_is_directory=True)
    with lent_node_modules(worktree, checkout, [".", "web"]) as lent:
        assert lent == ["."]  # the worktree's own top still borrows
        assert not (home / NODE_MODULES).exists()
        assert (worktree / NODE_MODULES / "vitest").is_symlink()
    assert list(home.iterdir()) == [] and not (worktree / NODE_MODULES).exists()


def test_a_folder_linked_inside_still_borrows(tmp_path: Path) -> None:
    checkout, worktree = tmp_path / "checkout", tmp_path / "wt"
    (checkout / "web" / NODE_MODULES / "vitest").mkdir(parents=True)
    (worktree / "real").mkdir(parents=True)
    (worktree / "web").symlink_to("real", target_is_directory=True)
    with lent_node_modules(worktree, checkout, ["web"]) as lent:
        assert lent == ["web"] and (worktree / "real" / NODE_MODULES / "vitest").is_symlink()
    assert not (worktree / "real" / NODE_MODULES).exists()
