"""Which Python the tests gate, the agents' ``run_tests`` and mypy use: the project's own.

A project's dependencies are installed in its own environment (``REPO/.venv``, ``venv``, a
Poetry or uv env, a system interpreter), not in shopfloor's. Run on shopfloor's Python, every
test of a real project errored "dependencies not installed ... module 'httpx'" and no attempt
could pass the tests gate; mypy left every third-party import unresolved. So the interpreter
is ``[gates] python`` when set, else the repository's own virtualenv when it has one that
runs, else the environment the project's Poetry, PDM, Pipenv or Hatch keeps outside it
(``gates.env_tools``), else the virtualenv or conda environment activated where shopfloor
started, else shopfloor's own — said at the start of the run, in ``status`` and by ``doctor``,
since missing dependencies follow.

The chosen interpreter is tried in the sandbox itself: the jail hides ``/tmp`` and the home
folder, where virtualenvs and pyenv or uv interpreters live, and shows the directories
:func:`interpreter_dirs` names read-only (``gates.bwrap``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import platform
import re
import shlex
import sys
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from engine.layout import pytest_missing_line
from engine.protocols import Sandbox
from gates.env_setup import venv_command
from gates.env_tools import tool_environments

VENV_DIRS = (".venv", "venv")
"""Where a repository keeps its own virtualenv (untracked: looked for in the user's checkout,
never in a worktree)."""
PROBE_TIMEOUT_S = 30.0
_PROBE = (
    "import importlib.util, os, sys; print(sys.version.split()[0]); "
    "spec = importlib.util.find_spec('pytest'); print(spec is not None); "
    "print(importlib.util.find_spec('mypy') is not None); "
    "origin = spec and spec.origin or ''; "
    "print(os.path.dirname(os.path.dirname(origin)) if origin.endswith('.py') "
    "and not os.path.exists(importlib.util.cache_from_source(origin)) else '')"
)
"""Prints the version, whether pytest and mypy are there, and the folder holding pytest when
it has no bytecode there (:attr:`ProjectPython.uncompiled`)."""
COMPILE_COST_S = 0.3
"""What compiling pytest and its dependencies costs each run, in CPU: 0.64 s a one-file run
of the demo's tests against 0.34 s compiled, all 51 of them 0.81 s against 0.46 s (medians of
9, a loaded 2-core machine)."""


class InterpreterError(ValueError):
    """``[gates] python`` names an interpreter that is missing or does not run."""


@dataclass(frozen=True)
class ProjectPython:
    """The interpreter the tests and mypy run on, and how it was chosen."""

    path: str
    origin: str
    """``"[gates] python"``, ``"the repository's .venv"``, ... or ``"shopfloor's own"``."""
    version: str = ""
    has_pytest: bool = True
    warning: str = ""
    """Why shopfloor's own is used, when the project declares dependencies (or has an
    environment that does not run) and no environment of its own was found that runs; or
    which environment found does not run, when a later one is used."""
    has_mypy: bool = False
    """mypy is importable there (the types gate runs shopfloor's own mypy all the same,
    reading this interpreter's packages)."""
    uncompiled: str = ""
    """The folder holding pytest when it has no bytecode there (``uv sync``, ``pip install
    --no-compile``): the jail writes none (the environment is read-only in it), so every
    test run compiled pytest and its dependencies from source again."""

    @property
    def own(self) -> bool:
        """True when it is the Python shopfloor runs on."""
        return self.path == sys.executable

    def describe(self) -> str:
        """``/repo/.venv/bin/python (Python 3.12.1, the repository's .venv)``."""
        version = f"Python {self.version}, " if self.version else ""
        return f"{self.path} ({version}{self.origin})"

    def pytest_missing(self) -> str:
        """The one line saying pytest is not installed there (empty when it is)."""
        if self.has_pytest:
            return ""
        return pytest_missing_line(self.path)

    def compile_advice(self) -> str:
        """The one line saying pytest is compiled again every run, and how to stop it (empty
        when its bytecode is there)."""
        if not self.uncompiled:
            return ""
        return (
            f"pytest has no bytecode in {self.uncompiled}: every test run compiles it again "
            f"(about {COMPILE_COST_S:g} s of CPU a run); compile it once with "
            f"`{shlex.join([self.path, '-m', 'compileall', '-q', self.uncompiled])}`"
        )


def interpreter_dirs(python: str) -> list[Path]:
    """What running ``python`` reads: its virtualenv (the folder holding ``pyvenv.cfg``), the
    base install the venv links to (``home`` in pyvenv.cfg) and the real interpreter's
    install, wherever its symlinks lead (a pyenv or uv Python in the home folder)."""
    given = Path(python)
    found = {given.parent.parent, given.resolve().parent.parent}
    cfg = given.parent.parent / "pyvenv.cfg"
    try:
        lines = cfg.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() == "home" and value.strip():
            home = Path(value.strip())
            found |= {home.parent, home.resolve().parent}
    return sorted(found)


@dataclass(frozen=True)
class Candidates:
    """The interpreters to try for a repository, in order, and what was found on the way
    that is not one (a Pipenv declared but not installed, a broken ``.venv``)."""

    repo: Path
    configured: str | None
    found: tuple[tuple[str, str], ...]
    """``(interpreter, origin)``."""
    notes: tuple[str, ...] = ()

    def readable_dirs(self) -> list[Path]:
        """What the sandbox must show read-only for any of them to run."""
        return sorted({d for python, _ in self.found for d in interpreter_dirs(python)})


def candidates(
    repo: Path, configured: str | None, environ: Mapping[str, str] | None = None
) -> Candidates:
    """What to try, in order: the configured interpreter (absolute, or relative to the
    repository) alone; else the repository's virtualenvs, the environment the project's
    Poetry, PDM, Pipenv or Hatch keeps (asked only when the repository has no virtualenv that
    is there), then the virtualenv or conda environment activated where shopfloor started.

    Blocks while a tool answers (:data:`gates.env_tools.TOOL_TIMEOUT_S` at most each): call
    it in a thread from async code.
    """
    environ = os.environ if environ is None else environ
    if configured:
        path = Path(configured).expanduser()
        given = str(path if path.is_absolute() else repo / path)
        return Candidates(repo, configured, ((given, "[gates] python"),))
    found: list[tuple[str, str]] = []
    notes: list[str] = []
    for name in VENV_DIRS:
        folder = repo / name
        python = folder / "bin" / "python"
        if python.is_file() or python.is_symlink():  # a broken link is said, not skipped
            found.append((str(python), f"the repository's {name}"))
        elif folder.is_file():
            named, note = _named_by_file(repo, folder, environ)
            found += named
            notes += [note] if note else []
        elif folder.is_dir():
            notes.append(f"{folder} holds no bin/python")
    if not any(Path(python).is_file() for python, _ in found):
        for tool in tool_environments(repo, environ):
            if tool.python:
                found.append((tool.python, tool.origin))
            else:
                notes.append(tool.note)
    found += _activated(environ)
    return Candidates(repo, None, tuple(dict.fromkeys(found)), tuple(notes))


def _named_by_file(
    repo: Path, file: Path, environ: Mapping[str, str]
) -> tuple[list[tuple[str, str]], str]:
    """``.venv`` as a file naming the environment (Pipenv's and virtualenvwrapper's habit): a
    path, absolute or relative to the repository, or a name under ``$WORKON_HOME``."""
    try:
        text = file.read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError):
        text = []
    named = text[0].strip() if text else ""
    places = []
    if named:
        given = Path(named).expanduser()
        places.append(given if given.is_absolute() else repo / given)
        if "/" not in named:
            workon = environ.get("WORKON_HOME") or str(Path.home() / ".virtualenvs")
            places.append(Path(workon).expanduser() / named)
    for place in places:
        python = place / "bin" / "python"
        if python.is_file():
            return [(str(python), f"the environment {file} names")], ""
    what = f"names {named!r}, which holds no bin/python" if named else "is empty"
    return [], f"{file} is a file, not a virtualenv, and {what}"


def _activated(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """The virtualenv or conda environment activated where shopfloor started, unless it is
    shopfloor's own (conda's ``base`` is active in every shell of some installs: it says
    nothing about the project)."""
    found = []
    venv = environ.get("VIRTUAL_ENV", "")
    own = {Path(sys.prefix).resolve(), Path(sys.executable).parent.parent.resolve()}
    if venv and Path(venv).resolve() not in own:
        found.append((str(Path(venv) / "bin" / "python"), "the activated virtualenv (VIRTUAL_ENV)"))
    conda = environ.get("CONDA_PREFIX", "")
    if conda and environ.get("CONDA_DEFAULT_ENV") != "base" and Path(conda).resolve() not in own:
        found.append((str(Path(conda) / "bin" / "python"), "the activated conda environment"))
    return found


async def find_project_python(found: Candidates, sandbox: Sandbox) -> ProjectPython:
    """The interpreter for the repository's tests and mypy: the first of ``found`` that runs
    in ``sandbox`` (built to show :meth:`Candidates.readable_dirs`).

    Raises :class:`InterpreterError` when the configured one is missing or does not run (the
    user asked for it: falling back would hide the mistake). One detected that does not run
    is passed over, and said.
    """
    tried: list[str] = []
    for python, origin in found.found:
        version, has_pytest, has_mypy, uncompiled, problem = await _probe(python, sandbox)
        if problem is None:
            warning = f"{'; '.join(tried)}: used {python} instead" if tried else ""
            return ProjectPython(python, origin, version, has_pytest, warning, has_mypy, uncompiled)
        if found.configured:
            raise InterpreterError(f"[gates] python: {python} {problem}")
        tried.append(f"{python} {problem}")
    warning = ""
    declared = await asyncio.to_thread(declared_dependencies, found.repo)
    reasons = [*tried, *found.notes]
    if reasons or declared:  # a project of the standard library alone needs no other Python
        reason = "; ".join(reasons) or f"no virtualenv in {found.repo} ({', '.join(VENV_DIRS)})"
        make = "" if reasons else await asyncio.to_thread(venv_command, found.repo)
        lacks = "which may lack the project's dependencies" + (f" ({declared})" if declared else "")
        advice = [f"make the repository's own .venv with `{make}`"] if make else []
        if not found.notes:  # a declared tool's note offers [gates] python already
            advice.append("set [gates] python to the project's interpreter")
        warning = (
            f"{reason}: the tests and mypy use shopfloor's own Python ({sys.executable}), {lacks}"
            + ("; " + ", or ".join(advice) if advice else "")
        )
    mypy = importlib.util.find_spec("mypy") is not None
    version = platform.python_version()
    own = ProjectPython(sys.executable, "shopfloor's own", version, True, warning, mypy)
    return replace(own, uncompiled=_uncompiled_here())


def _uncompiled_here() -> str:
    """:attr:`ProjectPython.uncompiled` of the Python running this, as :data:`_PROBE` says
    it of another."""
    spec = importlib.util.find_spec("pytest")
    origin = (spec.origin if spec is not None else None) or ""
    if origin.endswith(".py") and not os.path.exists(importlib.util.cache_from_source(origin)):
        return os.path.dirname(os.path.dirname(origin))
    return ""


_SETUP_CFG_REQUIRES = re.compile(
    r"^\s*(?:install_requires|tests_require)\s*=|^\[options\.extras_require\]", re.MULTILINE
)


def declared_dependencies(repo: Path) -> str:
    """Where ``repo`` declares third-party dependencies (``pyproject.toml``,
    ``requirements.txt``...), or "" when it declares none: a greenfield repository or a
    project of the standard library alone runs as well on shopfloor's Python, and a warning
    that its dependencies are missing would be wrong (the bundled demo's was)."""
    found: list[str] = []
    pyproject = repo / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        data = {}
    project = data.get("project")
    project = project if isinstance(project, dict) else {}
    tool = data.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, dict) else None
    poetry_deps = poetry.get("dependencies") if isinstance(poetry, dict) else None
    poetry_groups = poetry.get("group") if isinstance(poetry, dict) else None
    if (
        project.get("dependencies")
        or project.get("optional-dependencies")
        or data.get("dependency-groups")
        or (isinstance(poetry_deps, dict) and set(poetry_deps) - {"python"})
        or _poetry_group_declares(poetry_groups)
    ):
        found.append("pyproject.toml")
    for name in ("requirements.txt", "requirements-dev.txt", "setup.py", "setup.cfg", "Pipfile"):
        try:
            text = (repo / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if name.startswith("requirements") and not any(
            line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()
        ):
            continue
        if name == "setup.cfg" and not _SETUP_CFG_REQUIRES.search(text):
            continue  # an sdist's [egg_info] tag_build, a [flake8] table: no dependency
        found.append(name)
    return ", ".join(found)


def _poetry_group_declares(groups: object) -> bool:
    """True when a ``[tool.poetry.group.NAME.dependencies]`` table names a dependency:
    crashtest's test group (pytest, pytest-cov) beside dependencies of ``python`` alone."""
    if not isinstance(groups, dict):
        return False
    return any(
        isinstance(group, dict)
        and isinstance(group.get("dependencies"), dict)
        and group["dependencies"]
        for group in groups.values()
    )


async def _probe(python: str, sandbox: Sandbox) -> tuple[str, bool, bool, str, str | None]:
    """``(version, has_pytest, has_mypy, uncompiled, problem)`` of ``python`` run in the
    sandbox (``uncompiled``: :attr:`ProjectPython.uncompiled`)."""
    path = Path(python)
    if not await asyncio.to_thread(path.is_file):
        if await asyncio.to_thread(path.is_symlink):  # its Python removed, or a moved venv
            target = await asyncio.to_thread(os.readlink, path)
            return "", False, False, "", f"is a broken link to {target}: recreate that environment"
        return "", False, False, "", "does not exist"
    with tempfile.TemporaryDirectory(prefix="shopfloor-python-") as where:
        result = await sandbox.run(
            [python, "-I", "-c", _PROBE], Path(where), timeout_s=PROBE_TIMEOUT_S
        )
    lines = result.output.removesuffix("\n").split("\n")  # the last one may be empty
    if result.timed_out or result.returncode != 0 or len(lines) != 4:
        said = result.output.strip().splitlines()
        detail = said[-1][:200] if said else f"exit {result.returncode}"
        return "", False, False, "", f"does not run ({detail})"
    return lines[0], lines[1] == "True", lines[2] == "True", lines[3], None
