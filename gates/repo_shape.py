"""What a repository holds, as gate detection sees it: Python projects, tests, or only text.

Detection walks a few folders deep (a monorepo's ``services/api``, a ``src/`` layout),
skipping hidden folders, virtualenvs and vendored trees, to say whether a repository is
Python, where its Python projects are (each runs pytest on its own), whether pytest has
anything to collect in a Node package, and whether the repository holds no code yet.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", ".pytest.ini", "tox.ini")
"""What makes a folder a Python project (a Django-style ``backend/`` may have no packaging,
only the pytest.ini or tox.ini its tests are run by)."""

SKIPPED_DIRS = (".git", ".venv", "venv", "node_modules", ".shopfloor", "build", "dist")
"""Directories no Python gate looks into."""

SEARCH_DEPTH = 4
"""How deep detection looks for Python (``services/api/app/main.py`` is at depth 4)."""


def _is_test_file(name: str) -> bool:
    return name == "conftest.py" or (
        name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))
    )


def python_folders(repo: Path) -> Iterator[tuple[str, bool, bool, bool]]:
    """``(folder, is_project, has_py, has_tests)`` for each folder down to
    :data:`SEARCH_DEPTH`, top first, skipping hidden folders, virtualenvs and vendored trees."""
    for folder, dirs, files in os.walk(repo):
        rel = os.path.relpath(folder, repo)
        depth = 0 if rel == "." else rel.count(os.sep) + 1
        dirs[:] = sorted(
            d
            for d in dirs
            if depth + 1 < SEARCH_DEPTH and not d.startswith(".") and d not in SKIPPED_DIRS
        )
        project = any(name in files for name in PROJECT_FILES)
        has_py = any(name.endswith(".py") for name in files)
        yield rel, project, has_py, has_py and any(_is_test_file(n) for n in files)


TEXT_SUFFIXES = frozenset({"", ".md", ".markdown", ".rst", ".txt", ".adoc", ".org"})
"""What a repository holds before it holds code: a README, a LICENSE, notes."""


def holds_no_code(repo: Path) -> bool:
    """True for a repository that holds nothing but text (a README, a LICENSE, dotfiles such
    as ``.gitignore``): a greenfield one, whose project the run will lay down."""
    for folder, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS]
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() not in TEXT_SUFFIXES:
                return False
        if folder.count(os.sep) - str(repo).count(os.sep) >= SEARCH_DEPTH:
            dirs[:] = []
    return True


def is_python_repo(repo: Path) -> bool:
    """True when the repo holds a Python project or Python files (a few folders deep: a
    monorepo's ``services/api``, a ``src/`` layout)."""
    return any(project or has_py for _, project, has_py, _ in islice(python_folders(repo), 5000))


def wants_pytest(repo: Path) -> bool:
    """False for a Node package whose Python is a few scripts: no Python project and no
    test file anywhere, so pytest would only say "no tests collected" about a JS suite."""
    if not (repo / "package.json").is_file():
        return True
    return any(project or tests for _, project, _, tests in islice(python_folders(repo), 5000))


def python_projects(repo: Path) -> tuple[str, ...]:
    """Where the tests gate runs pytest: ``(".",)`` for a repo whose top is a Python
    project (or holds Python files), else each Python project below it — a monorepo's
    ``services/api`` keeps its own ``[tool.pytest.ini_options]`` and import paths, which
    pytest run at the top would not read — and ``"."`` first when test files lie outside
    every project (a monorepo's top-level ``tests/``), which pytest runs there without them."""
    found: list[str] = []
    loose = False
    for rel, project, has_py, has_tests in islice(python_folders(repo), 5000):
        if rel == ".":
            if project or has_py:
                return (".",)
            continue
        inside = any(Path(rel).is_relative_to(outer) for outer in found)
        if project and not inside:
            found.append(rel.replace(os.sep, "/"))
        elif has_tests and not inside:
            loose = True
    return (".", *found) if loose or not found else tuple(found)
