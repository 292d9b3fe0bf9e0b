"""The version file a Python project's build writes into its package, carried into the
factory's worktrees.

hatch-vcs and setuptools-scm write ``src/pkg/_version.py`` when the project is installed, and
the project's ``.gitignore`` keeps it out of git. A worktree holds only what git tracks, so a
package whose ``__init__`` imports that module could not be imported there: every test file
failed to collect and mypy flagged the import, at baseline and in every attempt, while the
same suite passed in the user's checkout (humanize: 715 passed there, "0 passed, 6 errors" in
the factory, and a task adding a test could never pass). This module names those files from each
project's ``pyproject.toml`` (a monorepo's ``services/api`` too, a few folders deep) or its
``setup.py``'s ``use_scm_version``, and copies the user's into a fresh worktree or the
audit's snapshot, where git still ignores them: no commit carries them. (setuptools-scm reads
no ``setup.cfg`` section, so there is none to read.)
"""

from __future__ import annotations

import ast
import os
import shutil
import tomllib
from collections.abc import Iterator
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


SEARCH_DEPTH = 4
"""How deep projects are looked for, as the gates' detection does (``gates.repo_shape``)."""
_SKIPPED = frozenset({"node_modules", "venv", "build", "dist", "site-packages", "__pycache__"})
"""Folders no project of the repository's own lives in (hidden ones are skipped too)."""
_SETUP_KEYS = ("write_to", "version_file")
"""The keys of ``setup(use_scm_version={...})`` that name the file setuptools-scm writes."""


def _project_folders(root: Path) -> Iterator[PurePosixPath]:
    """The folders (relative to ``root``, top first) that hold a ``pyproject.toml`` or a
    ``setup.py``, down to :data:`SEARCH_DEPTH`, skipping hidden and tool folders."""
    for folder, dirs, files in os.walk(root):
        rel = PurePosixPath(Path(folder).relative_to(root).as_posix())
        depth = 0 if rel == PurePosixPath(".") else len(rel.parts)
        dirs[:] = sorted(
            d
            for d in dirs
            if depth + 1 < SEARCH_DEPTH and not d.startswith(".") and d not in _SKIPPED
        )
        if "pyproject.toml" in files or "setup.py" in files:
            yield rel


def _from_pyproject(folder: Path) -> list[object]:
    try:
        data = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    return [_lookup(data.get("tool"), keys) for keys in _DECLARED]


def _from_setup_py(folder: Path) -> list[object]:
    """``write_to``/``version_file`` of ``setup(use_scm_version={...})``, given as a dict
    literal or as a module-level name bound to one; nothing is run."""
    try:
        tree = ast.parse((folder / "setup.py").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return []
    bound = {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found: list[object] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.keyword) and node.arg == "use_scm_version"):
            continue
        value = bound.get(node.value.id) if isinstance(node.value, ast.Name) else node.value
        if not isinstance(value, ast.Dict):
            continue
        for key, item in zip(value.keys, value.values, strict=True):
            if isinstance(key, ast.Constant) and key.value in _SETUP_KEYS:
                found.append(item.value if isinstance(item, ast.Constant) else None)
    return found


def generated_files(project: Path) -> list[str]:
    """The files, relative to ``project``, that its projects (the top one and those a few
    folders below it) have the build write: a relative path inside its project, each once;
    none for a file that cannot be read."""
    found: dict[str, None] = {}
    for folder in _project_folders(project):
        declared = _from_pyproject(project / folder) + _from_setup_py(project / folder)
        for value in declared:
            if not isinstance(value, str) or not value:
                continue
            rel = PurePosixPath(value)
            if rel.is_absolute() or ".." in rel.parts or "\\" in value:
                continue
            found[str(folder / rel)] = None
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
