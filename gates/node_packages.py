"""Where a repository's Node packages are, and the dependencies the user installed for them.

A package's ``test`` and ``lint`` scripts run tools from its ``node_modules`` (vitest, eslint,
tsc), which npm fills in the user's checkout and git ignores. The factory's worktrees (an
attempt's, a merge candidate's, the baseline's) are checkouts of commits, so they have none:
every script failed "not found" (exit 127), at the baseline too, where it read as a gate
already red before the run, and no later failure of the package's tests counted. A Node gate
therefore borrows the checkout's ``node_modules`` for the time of its command
(:func:`engine.borrowed_modules.borrowed_node_modules`): a folder of links to the installed
packages, the folder itself the worktree's own (vite and vitest write their caches into
it), removed afterwards.
The packages are read where they are installed; the jail shows them read-only
(:func:`installed_node_modules` lists them for the sandbox), and a package with nothing
installed is said at the run's start (:func:`uninstalled_warnings`).

A repository may hold its package below the top (a Python project with a ``web/`` front end):
:func:`node_packages` finds each package a few folders down, as Python projects are found.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from engine.borrowed_modules import NODE_MODULES
from gates.repo_shape import SEARCH_DEPTH, SKIPPED_DIRS


def node_packages(repo: Path) -> tuple[str, ...]:
    """The folders holding a ``package.json`` down to :data:`SEARCH_DEPTH`, top first,
    skipping hidden folders, installed dependencies and vendored trees, and any package
    inside one already found (a workspace's members run through its root's scripts)."""
    found: list[str] = []
    for folder, dirs, files in os.walk(repo):
        rel = Path(os.path.relpath(folder, repo)).as_posix()
        depth = 0 if rel == "." else rel.count("/") + 1
        if "package.json" in files and not any(
            outer == "." or rel.startswith(f"{outer}/") for outer in found
        ):
            found.append(rel)
        dirs[:] = sorted(
            d
            for d in dirs
            if depth + 1 < SEARCH_DEPTH and not d.startswith(".") and d not in SKIPPED_DIRS
        )
    return tuple(found)


def installed_node_modules(repo: Path) -> list[Path]:
    """The ``node_modules`` folders installed for the repository's Node packages (what a
    jailed Node gate reads in the user's checkout)."""
    return [
        repo / folder / NODE_MODULES
        for folder in node_packages(repo)
        if (repo / folder / NODE_MODULES).is_dir()
    ]


def _declares_dependencies(package: Path) -> bool:
    try:
        data = json.loads((package / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and any(
        isinstance(data.get(key), dict) and data[key] for key in ("dependencies", "devDependencies")
    )


def uninstalled_warnings(repo: Path) -> list[str]:
    """One line for each Node package that declares dependencies and has none installed in
    the checkout: its scripts' tools are "not found" at the baseline and in every attempt."""
    lines: list[str] = []
    for folder in node_packages(repo):
        package = repo / folder
        if _declares_dependencies(package) and not (package / NODE_MODULES).is_dir():
            where = "the Node package" if folder == "." else f"the Node package in {folder}/"
            lines.append(
                f"{where} has no {NODE_MODULES}: its test and lint scripts cannot run their "
                f"tools, at the baseline or after any task; run {install_command(package)} "
                f"in {package.resolve()}"
            )
    return lines


LOCKFILES = (
    ("package-lock.json", "npm ci"),
    ("npm-shrinkwrap.json", "npm ci"),
    ("yarn.lock", "yarn install --frozen-lockfile"),
    ("pnpm-lock.yaml", "pnpm install --frozen-lockfile"),
    ("bun.lock", "bun install --frozen-lockfile"),
    ("bun.lockb", "bun install --frozen-lockfile"),
)
"""Each package manager's lockfile and the install that keeps to it."""


def install_command(package: Path, depth: int = 3) -> str:
    """The install the package's lockfile asks for, looked for in its folder and up to
    ``depth`` folders above (a workspace's lockfile sits at its root): ``npm ci`` refuses a
    package without a package-lock.json, which tiny-invariant (yarn.lock) was told to run.
    ``npm install`` where no lockfile is found."""
    for folder in [package, *package.resolve().parents][: depth + 1]:
        for name, command in LOCKFILES:
            if (folder / name).is_file():
                return command
        if (folder / ".git").exists():
            break
    return "npm install"
