"""Fixtures for engine tests that need a real git repository.

``user_repo`` is a small repository in ``tmp_path`` as a user would have it: a ``main``
branch with two commits, an uncommitted modification and an untracked file. The helpers that
build it and fingerprint it live in ``repo_helpers``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from repo_helpers import git, make_repo


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    """A user's repository with history, a local modification and an untracked file."""
    repo = make_repo(
        tmp_path / "repo",
        {
            "README.md": "# Greeter\n\nSays hello.\n",
            "greet/__init__.py": "",
            "greet/core.py": "def greet(name):\n    return f'hello {name}'\n",
        },
    )
    (repo / "CHANGELOG.md").write_text("- first\n")
    git(repo, "add", "CHANGELOG.md")
    git(repo, "commit", "-q", "-m", "changelog")
    (repo / "greet" / "core.py").write_text("def greet(name):\n    return f'HELLO {name}'  # wip\n")
    (repo / "notes.txt").write_text("my private notes\n")
    return repo


@pytest.fixture
def worktree_root(tmp_path: Path) -> Path:
    return tmp_path / "worktrees"
