"""Which Python the tests gate, the agents' ``run_tests`` and mypy use: the project's own.

A project's dependencies are installed in its own environment (``REPO/.venv``, ``venv``, a
Poetry or uv env, a system interpreter), not in shopfloor's. Run on shopfloor's Python, every
test of a real project errored "dependencies not installed ... module 'httpx'" and no attempt
could pass the tests gate; mypy left every third-party import unresolved. So the interpreter
is ``[gates] python`` when set, else the repository's own virtualenv when it has one that
runs, else shopfloor's own — said at the start of the run, since missing dependencies follow.

The chosen interpreter is tried in the sandbox itself: the jail hides ``/tmp`` and the home
folder, where virtualenvs and pyenv or uv interpreters live, and shows the directories
:func:`interpreter_dirs` names read-only (``gates.bwrap``).
"""

from __future__ import annotations

import asyncio
import platform
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from engine.layout import pytest_missing_line
from engine.protocols import Sandbox

VENV_DIRS = (".venv", "venv")
"""Where a repository keeps its own virtualenv (untracked: looked for in the user's checkout,
never in a worktree)."""
PYTHON_KEY = "gates_python"
"""The run's settings record key naming the interpreter the tests and mypy run on (``status``
reads it without loading the composition root)."""
PROBE_TIMEOUT_S = 30.0
_PROBE = (
    "import importlib.util, sys; print(sys.version.split()[0]); "
    "print(importlib.util.find_spec('pytest') is not None)"
)


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
    environment that does not run) and no environment of its own was found that runs."""

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


def candidates(repo: Path, configured: str | None) -> list[tuple[str, str]]:
    """``(interpreter, origin)`` to try, in order: the configured one (absolute, or relative
    to the repository), else the repository's virtualenvs that exist."""
    if configured:
        path = Path(configured).expanduser()
        return [(str(path if path.is_absolute() else repo / path), "[gates] python")]
    found = []
    for name in VENV_DIRS:
        python = repo / name / "bin" / "python"
        if python.is_file():
            found.append((str(python), f"the repository's {name}"))
    return found


def readable_dirs(repo: Path, configured: str | None) -> list[Path]:
    """What the sandbox must show read-only for any of :func:`candidates` to run."""
    return sorted(
        {d for python, _ in candidates(repo, configured) for d in interpreter_dirs(python)}
    )


async def find_project_python(
    repo: Path, configured: str | None, sandbox: Sandbox
) -> ProjectPython:
    """The interpreter for ``repo``'s tests and mypy, tried in ``sandbox``.

    Raises :class:`InterpreterError` when ``configured`` is missing or does not run (the user
    asked for it: falling back would hide the mistake). A detected virtualenv that does not
    run is passed over, and shopfloor's own is used with a warning saying so.
    """
    tried: list[str] = []
    for python, origin in candidates(repo, configured):
        version, has_pytest, problem = await _probe(python, sandbox)
        if problem is None:
            return ProjectPython(python, origin, version, has_pytest)
        if configured:
            raise InterpreterError(f"[gates] python: {python} {problem}")
        tried.append(f"{python} {problem}")
    warning = ""
    declared = await asyncio.to_thread(declared_dependencies, repo)
    if tried or declared:  # a project of the standard library alone needs no other Python
        reason = "; ".join(tried) or f"no virtualenv in {repo} ({', '.join(VENV_DIRS)})"
        warning = (
            f"{reason}: the tests and mypy use shopfloor's own Python ({sys.executable}), "
            f"which may lack the project's dependencies ({declared or 'its own'}); set "
            "[gates] python to the project's interpreter"
        )
    return ProjectPython(
        sys.executable, "shopfloor's own", platform.python_version(), True, warning
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
    if (
        project.get("dependencies")
        or project.get("optional-dependencies")
        or data.get("dependency-groups")
        or (isinstance(poetry_deps, dict) and set(poetry_deps) - {"python"})
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
        found.append(name)
    return ", ".join(found)


async def _probe(python: str, sandbox: Sandbox) -> tuple[str, bool, str | None]:
    """``(version, has_pytest, problem)`` of ``python`` run in the sandbox."""
    if not await asyncio.to_thread(Path(python).is_file):
        return "", False, "does not exist"
    with tempfile.TemporaryDirectory(prefix="shopfloor-python-") as where:
        result = await sandbox.run(
            [python, "-I", "-c", _PROBE], Path(where), timeout_s=PROBE_TIMEOUT_S
        )
    lines = result.output.split()
    if result.timed_out or result.returncode != 0 or len(lines) != 2:
        said = result.output.strip().splitlines()
        detail = said[-1][:200] if said else f"exit {result.returncode}"
        return "", False, f"does not run ({detail})"
    return lines[0], lines[1] == "True", None
