"""What a model is shown of a worktree holding symlinks. A link leading out of the worktree
(committed by the user, or written by an attempt) names a file of the machine: nothing of it
may reach a prompt, neither its text (context selection, ``read_file``) nor its symbols (the
repo map recon gives the planner). A link inside is a second name for a file, which is shown
as that file is: one leading to a ``.env`` is masked as the ``.env`` is."""

from __future__ import annotations

from pathlib import Path

import pytest
from repo_helpers import commit, make_repo

from agents.context import digest as file_digest
from agents.context import repo_map, select_context
from agents.file_digests import FileDigests
from agents.provider import ToolCall
from agents.toolbelt import Toolbelt
from engine.audit_checkout import numbered_sources
from engine.secrets import REDACTED
from gates.sandbox import ProcessSandbox

OUTSIDE_TEXT = "shipping invoice quota: the warehouse password is hunter2-outside\n"
OUTSIDE_PYTHON = "def leaked_outside_helper():\n    return 'hunter2-outside'\n"
ENV = "DB_PASSWORD=hunter2-inside\n"


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    """A checkout committing links out (relative, absolute) and a link to its own ``.env``."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "notes.md").write_text(OUTSIDE_TEXT)
    (outside / "settings.py").write_text(OUTSIDE_PYTHON)
    repo = make_repo(
        tmp_path / "repo",
        {"shop/invoice.py": "def invoice_total(quota):\n    return quota\n", ".env": ENV},
    )
    (repo / "docs").mkdir()
    (repo / "docs" / "warehouse.md").symlink_to(Path("..", "..", "outside", "notes.md"))
    (repo / "local_settings.py").symlink_to(outside / "settings.py")
    (repo / "notes.txt").symlink_to(".env")
    (repo / "env_settings.py").symlink_to(".env")
    commit(repo, {}, "links")
    return repo


def test_context_never_shows_a_file_outside_through_a_link(worktree: Path) -> None:
    pack = select_context(
        worktree,
        "shipping invoice quota warehouse password",
        named_files=["docs/warehouse.md", "local_settings.py", "notes.txt"],
        budget_tokens=20_000,
        min_relevance=0.0,
        digests=FileDigests(file_digest),
    )
    assert "hunter2" not in pack.text and "leaked_outside_helper" not in pack.text
    assert pack.files == ["shop/invoice.py"]


def test_the_repo_map_of_tracked_files_reads_no_symbols_through_a_link(worktree: Path) -> None:
    """Recon maps the files git tracks, links among them."""
    tracked = ["env_settings.py", "local_settings.py", "shop/invoice.py"]
    shown = repo_map(worktree, tracked, FileDigests(file_digest))
    assert shown.splitlines() == [
        "env_settings.py",
        "local_settings.py",
        "shop/invoice.py: def invoice_total",
    ]


async def test_read_file_masks_a_link_to_a_secret_file_as_that_file(worktree: Path) -> None:
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        shown = await Toolbelt(worktree, sandbox).execute(
            ToolCall("1", "read_file", {"path": "notes.txt"})
        )
    finally:
        sandbox.close()
    assert not shown.is_error
    assert "hunter2" not in shown.text and f"DB_PASSWORD={REDACTED}" in shown.text


def test_an_audits_sources_mask_a_link_to_a_secret_file_as_that_file(worktree: Path) -> None:
    """An audit's snapshot keeps the links inside the checkout; its reviewers read the
    Python files git lists, links among them."""
    shown = numbered_sources(worktree, ["env_settings.py", "shop/invoice.py"])
    assert "hunter2" not in shown and f"DB_PASSWORD={REDACTED}" in shown
