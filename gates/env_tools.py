"""Where a project's environment manager keeps its environment, when not in the repository.

Poetry keeps a project's virtualenv in its cache folder, Pipenv in ``~/.local/share/
virtualenvs``, Hatch in its data folder: not ``REPO/.venv``. Such a project's tests ran on
shopfloor's Python, without the project's dependencies, and every one of them errored. So a
project that declares one of these tools has its environment asked of the tool itself, with
a command that only reads (measured against Poetry 2.5, Pipenv, Hatch 1.x and PDM 2.x):

* ``poetry env info --path`` prints the environment, or nothing and exits 1 when there is none;
* ``pipenv --venv`` prints it, or "No virtualenv has been created" and exits 1;
* ``hatch env find`` prints where the default environment is *or would be*: it is used only
  when a ``bin/python`` is there;
* PDM is not run: ``pdm info --python`` creates a virtualenv and writes ``.pdm-python`` when
  the project has none. The interpreter PDM chose is read from ``.pdm-python`` instead (its
  in-project ``.venv``, its default, is found as any ``.venv`` is).

Each tool runs in the repository with a short time limit, no input, and the user's
environment without its credentials, nor the virtualenv or conda environment the user has
activated (Pipenv answers with an activated one rather than the project's).
"""

from __future__ import annotations

import shutil
import subprocess  # nosec B404: the user's own environment manager, argv without a shell
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gates.sandbox_env import looks_secret
from gates.toml_files import read_toml

TOOL_TIMEOUT_S = 10.0
ACTIVATION_VARIABLES = ("VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "PIPENV_ACTIVE")
"""What an activated environment sets; a tool seeing it answers with that environment."""
_NAMES = {"poetry": "Poetry", "pdm": "PDM", "pipenv": "Pipenv", "hatch": "Hatch"}


@dataclass(frozen=True)
class ToolEnv:
    """What one declared tool said: its environment's interpreter, or why there is none."""

    tool: str
    python: str = ""
    origin: str = ""
    """``Poetry's environment (poetry env info --path)``: which tool, and how it was asked."""
    note: str = ""
    """One line saying why no interpreter was found, and how to fix it (empty when found)."""


def _pyproject(repo: Path) -> dict[str, Any]:
    return read_toml(repo / "pyproject.toml")


def declared_tools(repo: Path) -> dict[str, str]:
    """tool -> where ``repo`` declares it (``pyproject.toml [tool.poetry]``, ``Pipfile``).

    Hatch counts when the project defines Hatch environments (``[tool.hatch.envs]`` or a
    ``hatch.toml``): ``[tool.hatch.build]`` or ``[tool.hatch.version]`` alone configure
    hatchling, the build backend, which many projects use without ever running Hatch.
    """
    tool = _pyproject(repo).get("tool")
    tables = tool if isinstance(tool, dict) else {}
    hatch = tables.get("hatch")
    found: dict[str, str] = {}
    if "poetry" in tables:
        found["poetry"] = "pyproject.toml [tool.poetry]"
    elif (repo / "poetry.lock").is_file():
        found["poetry"] = "poetry.lock"
    if "pdm" in tables:
        found["pdm"] = "pyproject.toml [tool.pdm]"
    elif (repo / "pdm.lock").is_file():
        found["pdm"] = "pdm.lock"
    if (repo / "Pipfile").is_file():
        found["pipenv"] = "Pipfile"
    if isinstance(hatch, dict) and "envs" in hatch:
        found["hatch"] = "pyproject.toml [tool.hatch.envs]"
    elif (repo / "hatch.toml").is_file():
        found["hatch"] = "hatch.toml"
    return found


def tool_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment a tool is asked in: the user's, without credentials or activation."""
    kept = {
        name: value
        for name, value in environ.items()
        if name not in ACTIVATION_VARIABLES and not looks_secret(name)
    }
    return {**kept, "PIPENV_IGNORE_VIRTUALENVS": "1", "PIPENV_VERBOSITY": "-1", "NO_COLOR": "1"}


def _note(tool: str, where: str, problem: str, install: str) -> str:
    """``pyproject.toml [tool.poetry] declares Poetry, but ...: run ..., or set ...``."""
    how = f"put {tool} on PATH" if problem.endswith("not on PATH") else f"run {install}"
    return (
        f"{where} declares {_NAMES[tool]}, but {problem}: {how}, or set [gates] python = "
        f'"/path/to/its/environment/bin/python"'
    )


def _asked(
    repo: Path, environ: Mapping[str, str], argv: list[str], timeout_s: float
) -> tuple[str, str]:
    """(the path the tool printed, "") or ("", the problem)."""
    program = shutil.which(argv[0], path=environ.get("PATH", ""))
    if program is None:
        return "", f"{argv[0]} is not on PATH"
    command = " ".join(argv)
    try:
        done = subprocess.run(  # nosec B603: a fixed argv of the tool the project declares
            [program, *argv[1:]],
            cwd=repo,
            env=tool_environ(environ),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "", f"{command} did not answer in {timeout_s:g}s"
    except OSError as exc:
        return "", f"cannot start {program}: {exc.strerror}"
    lines = [line.strip() for line in done.stdout.decode("utf-8", "replace").splitlines()]
    path = next((line for line in reversed(lines) if line.startswith("/")), "")
    if done.returncode != 0 or not path:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = f": {said[-1][:160]}" if said else ""
        return "", f"{command} found no environment (exit {done.returncode}{detail})"
    return path, ""


def _in_environment(path: str) -> str:
    """The interpreter of the environment folder ``path``, or "" when it has none."""
    python = Path(path) / "bin" / "python"
    return str(python) if python.is_file() else ""


def _asked_env(
    repo: Path, environ: Mapping[str, str], argv: list[str], timeout_s: float
) -> tuple[str, str]:
    """(the interpreter of the environment the tool names, "") or ("", the problem)."""
    path, problem = _asked(repo, environ, argv, timeout_s)
    if problem:
        return "", problem
    python = _in_environment(path)
    return (python, "") if python else ("", f"{' '.join(argv)} names {path}, not created yet")


def _poetry(repo: Path, environ: Mapping[str, str], timeout_s: float) -> tuple[str, str]:
    return _asked_env(repo, environ, ["poetry", "env", "info", "--path"], timeout_s)


def _pipenv(repo: Path, environ: Mapping[str, str], timeout_s: float) -> tuple[str, str]:
    return _asked_env(repo, environ, ["pipenv", "--venv"], timeout_s)


def _hatch(repo: Path, environ: Mapping[str, str], timeout_s: float) -> tuple[str, str]:
    return _asked_env(repo, environ, ["hatch", "env", "find"], timeout_s)


def _pdm(repo: Path, environ: Mapping[str, str], timeout_s: float) -> tuple[str, str]:
    del environ, timeout_s  # read from the file PDM writes, never asked (see the docstring)
    try:
        chosen = (repo / ".pdm-python").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        chosen = ""
    python = Path(chosen) if chosen else None
    if python is not None and python.is_absolute() and python.is_file():
        return str(python), ""
    if chosen:
        return "", f".pdm-python names {chosen}, which does not exist"
    return "", "it has chosen no interpreter (no .pdm-python, no .venv)"


_ASK: dict[str, tuple[Callable[[Path, Mapping[str, str], float], tuple[str, str]], str, str]] = {
    "poetry": (_poetry, "poetry env info --path", "poetry install"),
    "pdm": (_pdm, ".pdm-python", "pdm install"),
    "pipenv": (_pipenv, "pipenv --venv", "pipenv install"),
    "hatch": (_hatch, "hatch env find", "hatch env create"),
}


def tool_environments(
    repo: Path, environ: Mapping[str, str], *, timeout_s: float = TOOL_TIMEOUT_S
) -> list[ToolEnv]:
    """What each tool ``repo`` declares says about its environment, in the order Poetry,
    PDM, Pipenv, Hatch; none for a project that declares none."""
    declared = declared_tools(repo)
    found = []
    for tool, (ask, asked, install) in _ASK.items():
        if tool not in declared:
            continue
        python, problem = ask(repo, environ, timeout_s)
        if python:
            origin = f"{_NAMES[tool]}'s environment ({asked})"
            found.append(ToolEnv(tool, python, origin))
        else:
            found.append(ToolEnv(tool, note=_note(tool, declared[tool], problem, install)))
    return found
