"""A fenced coding agent is shown its worktree's secret files as masked copies, made by the
factory at each call: reading ``config/.env`` by its path, it followed a ``config`` the
agent's commands had swapped for a link to a folder of the host, and the copy bound into
the fence showed that file's keys and layout. The file is read part by part
(``engine.beneath``): a folder on the way leading out leaves the file out."""

from __future__ import annotations

from pathlib import Path

from agents.providers.cli_secret_files import masked_copies


def test_a_secret_file_behind_a_folder_linked_out_is_not_copied(tmp_path: Path) -> None:
    worktree = tmp_path / "wt"
    (worktree / "config").mkdir(parents=True)
    (worktree / "config" / ".env").write_text("DB_PASSWORD=inside\n")
    outside = tmp_path / "home" / "other"
    outside.mkdir(parents=True)
    (outside / ".env").write_text("STRIPE_LIVE_KEY_CANARY=sk_live_1\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    inside = masked_copies(worktree, ["config/.env"], scratch)
    assert [target for _, target in inside] == [worktree / "config" / ".env"]
    (worktree / "config").rename(worktree / "config.old")
    (worktree / "config").symlink_to(outside, target_is_directory=True)
    copies = masked_copies(worktree, ["config/.env"], tmp_path / "scratch")
    assert copies == []
    assert not any("CANARY" in path.read_text() for path in scratch.iterdir())
