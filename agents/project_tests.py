"""Where and how the agents' ``run_tests`` runs a project's tests: as the gates run them.

A Python project's tests run under pytest in each project the tests gate runs (a monorepo's
``services/api`` with its own config and import paths); a Node package's through its
``package.json`` test script, in each package the Node gate runs it, with the dependencies
the user installed in the checkout borrowed (:mod:`engine.borrowed_modules`). A mixed
repository (a Python project with a ``web/`` front end) runs both. Always pytest, a Node
package's ``run_tests`` only said ``no tests ran [exit code 5]``.

The places are chosen by the composition root from the gates' own detection
(:class:`ProjectTests`); this module routes the engineer's arguments to them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from engine.beneath import folder_beneath, read_text_beneath

NODE_TEST_ENV = {"CI": "1", "NO_COLOR": "1", "npm_config_update_notifier": "false"}
"""What the Node gate runs a package's scripts with: ``CI`` keeps vitest and jest from
watching for changes until their time runs out."""
NODE_PACKAGES_LABEL = "node_packages"
"""The request label that tells a coding agent's provider (``cli:``) the worktree's Node
packages, whose installed dependencies it borrows for the agent's run."""
COMPOUND = re.compile(r"&&|\|\||[;|]")
"""A script of several commands (``ts-scripts test && npm run size``): npm appends extra
arguments to its last command, not to the test runner."""


@dataclass(frozen=True)
class ProjectTests:
    """Where the gates run the project's tests: the Python projects pytest runs in
    (``gates.repo_shape.python_projects``; none for a Node package whose Python is a few
    scripts), the Node packages whose test script runs (``gates.node_packages``), and the
    user's checkout holding those packages' installed dependencies."""

    pytest_projects: tuple[str, ...] = (".",)
    node_packages: tuple[str, ...] = ()
    checkout: Path | None = None
    commands: tuple[tuple[str, ...], ...] = ()
    """The test commands of the configured gates (``cargo test``), run at the top of the
    worktree with the agent's arguments appended when there is nothing of the above."""

    def labels(self) -> dict[str, str]:
        """The request labels saying the Node packages (:data:`NODE_PACKAGES_LABEL`)."""
        return {NODE_PACKAGES_LABEL: "\n".join(self.node_packages)} if self.node_packages else {}


def labelled_packages(labels: Mapping[str, str]) -> list[str]:
    """The Node packages a request's labels name (:meth:`ProjectTests.labels`)."""
    return [p for p in labels.get(NODE_PACKAGES_LABEL, "").split("\n") if p]


@dataclass(frozen=True)
class PlannedRun:
    """One run of a project's tests: ``pytest`` or ``npm`` in ``folder`` with ``args``, or a
    configured ``command`` whose ``args`` are its whole argv."""

    runner: str
    folder: str
    args: list[str]


def test_script(root: Path, package: str) -> str | None:
    """The ``test`` script of the package.json in the folder ``package`` of the worktree
    ``root``, or None. Read part by part (:mod:`engine.beneath`): an agent may have made the
    file, or the folder, a link to a file of the host, whose text must not reach the tool's
    output (a note quotes the script); such a link reads as no package.json."""
    try:
        data = json.loads(read_text_beneath(root, PurePosixPath(package, "package.json")))
    except (OSError, ValueError):  # LeavesRoot and UnicodeDecodeError are ValueErrors
        return None
    scripts = data.get("scripts") if isinstance(data, dict) else None
    script = scripts.get("test") if isinstance(scripts, dict) else None
    return script if isinstance(script, str) and script.strip() else None


def npm_test_argv(script: str, args: Sequence[str]) -> tuple[list[str], str]:
    """``npm run --silent test``, the arguments after ``--`` for the test runner, and a note
    when they cannot reach it (a script of several commands)."""
    argv = ["npm", "run", "--silent", "test"]
    if not args:
        return argv, ""
    if COMPOUND.search(script):
        return argv, (
            f"[the args were not passed: the test script {script!r} runs several commands; "
            "run the test runner itself with the run tool, e.g. npx vitest run FILE]"
        )
    return [*argv, "--", *args], ""


def _project_of(arg: str, projects: Sequence[str]) -> str:
    """The innermost project holding the path ``arg`` names (``"."`` when none does)."""
    path = PurePosixPath(arg.split("::")[0].replace("\\", "/"))
    inside = [p for p in projects if p != "." and path.is_relative_to(p)]
    return max(inside, key=len, default=".")


def _relative(arg: str, project: str) -> str:
    """``arg`` (a path, maybe with a ``::test`` node) relative to ``project``."""
    path, sep, node = arg.replace("\\", "/").partition("::")
    rel = str(PurePosixPath(path).relative_to(project))
    return f"{rel}{sep}{node}"


def _package_of(arg: str, packages: Sequence[str]) -> str | None:
    """The innermost Node package holding the path ``arg`` names, or None."""
    path = PurePosixPath(arg.replace("\\", "/"))
    inside = [p for p in packages if p == "." or path.is_relative_to(p)]
    return max(inside, key=len, default=None)


def _depth(folder: str) -> int:
    return 0 if folder == "." else folder.count("/") + 1


def planned_runs(root: Path, tests: ProjectTests, extra: list[str]) -> list[PlannedRun]:
    """The runs of the project's tests in the worktree ``root``, with ``extra`` arguments.

    Arguments naming a file or folder of the worktree run where it lies: a Python file (or a
    ``file::test`` node) in the pytest project holding it, made relative to it; any other
    path in the innermost Node package holding it, else in the pytest project. The other
    arguments (options, ``-k`` expressions) go to every run. Without paths, every place
    runs; the top pytest project leaves the others out. A Node package runs only when its
    package.json in the worktree has a test script, as the gate's does. With neither, the
    configured test commands run (a Rust crate's ``cargo test``, ``extra`` appended).
    """
    projects = [p for p in tests.pytest_projects if folder_beneath(root, p)]  # no link out
    if tests.pytest_projects and not projects:
        projects = ["."]
    packages = [p for p in tests.node_packages if test_script(root, p) is not None]
    if tests.commands and not projects and not packages:
        return [PlannedRun("command", ".", [*argv, *extra]) for argv in tests.commands]
    if not packages and projects == ["."]:
        return [PlannedRun("pytest", ".", list(extra))]
    if not projects and packages == ["."]:
        return [PlannedRun("npm", ".", list(extra))]
    is_path = [not arg.startswith("-") and (root / arg.split("::")[0]).exists() for arg in extra]
    options = [arg for arg, path in zip(extra, is_path, strict=True) if not path]
    named: dict[tuple[str, str], list[str]] = {}
    for arg, path in zip(extra, is_path, strict=True):
        if not path:
            continue
        package = _package_of(arg, packages)
        python = arg.endswith(".py") or "::" in arg
        project = _project_of(arg, projects)
        if projects and (package is None or python or _depth(project) > _depth(package)):
            rel = arg if project == "." else _relative(arg, project)
            named.setdefault(("pytest", project), []).append(rel)
        elif package is not None:
            rel = arg if package == "." else _relative(arg, package)
            named.setdefault(("npm", package), []).append(rel)
        else:  # in no place that runs tests: the runners may know what to do with it
            options.append(arg)
    if named:
        return [
            PlannedRun(run, folder, [*options, *paths]) for (run, folder), paths in named.items()
        ]
    others = [f"--ignore={p}" for p in projects if p != "."]
    return [
        *(
            PlannedRun("pytest", project, [*options, *(others if project == "." else [])])
            for project in projects
        ),
        *(PlannedRun("npm", package, list(options)) for package in packages),
    ]
