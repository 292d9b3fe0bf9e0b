"""The version file a Python project's build writes into its package, carried into the
factory's worktrees.

hatch-vcs and setuptools-scm write ``src/pkg/_version.py`` when the project is installed, and
the project's ``.gitignore`` keeps it out of git. A worktree holds only what git tracks, so a
package whose ``__init__`` imports that module could not be imported there: every test file
failed to collect and mypy flagged the import, at baseline and in every attempt, while the
same suite passed in the user's checkout (humanize: 715 passed there, "0 passed, 6 errors" in
the factory, and a task adding a test could never pass). This module names those files from
``pyproject.toml`` and copies the user's into a fresh worktree, where git still ignores them:
no commit carries them.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

from engine.repo_guard import git_run

__all__ = ["copy_generated_files", "generated_files"]

_DECLARED: tuple[tuple[str, ...], ...] = (
    ("hatch", "build", "hooks", "vcs", "version-file"),  # hatch-vcs
    ("setuptools_scm", "version_file"),
    ("setuptools_scm", "write_to"),  # its older name
)
"""Where in ``[tool]`` a build backend's plugin is told which file to write."""


def _lookup(table: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(table, dict):
            return None
        table = table.get(key)
    return table


def generated_files(project: Path) -> list[str]:
    """The files, relative to ``project``, its ``pyproject.toml`` has the build write: a
    relative path inside the project, each once; none for a file that cannot be read."""
    try:
        data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    found: dict[str, None] = {}
    for keys in _DECLARED:
        value = _lookup(data.get("tool"), keys)
        if not isinstance(value, str) or not value:
            continue
        rel = PurePosixPath(value)
        if rel.is_absolute() or ".." in rel.parts or "\\" in value:
            continue
        found[str(rel)] = None
    return list(found)


def _ignored(worktree: Path, rel: str) -> bool:
    """True when git in ``worktree`` ignores ``rel``: a copy there is never committed."""
    return git_run(worktree, "check-ignore", "-q", "--", rel).returncode == 0


def copy_generated_files(checkout: Path, worktree: Path) -> list[str]:
    """Copy into ``worktree`` each generated file (:func:`generated_files` of the worktree's
    own ``pyproject.toml``) that the user's ``checkout`` holds, the worktree lacks and git
    ignores there; returns the paths copied."""
    copied: list[str] = []
    for rel in generated_files(worktree):
        source, target = checkout / rel, worktree / rel
        if source.is_symlink() or not source.is_file():
            continue
        if target.exists() or target.is_symlink() or not target.parent.is_dir():
            continue  # tracked at this commit, or its package is not there
        if not target.parent.resolve().is_relative_to(worktree.resolve()):
            continue  # a folder linked out of the worktree
        if not _ignored(worktree, rel):
            continue  # the attempt's commit would carry it
        try:
            shutil.copyfile(source, target)
        except OSError:
            continue  # the gates then say what the missing module breaks, as before
        copied.append(rel)
    return copied
