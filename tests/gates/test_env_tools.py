"""The project's Python where its environment manager keeps it, and the repositories whose
environment is not a plain ``REPO/.venv``.

Poetry, Pipenv and Hatch keep a project's virtualenv outside the repository: the tests ran
on shopfloor's Python, without the project's dependencies, and every one errored. The tools
are not installed here; each is a small executable answering the command line its
documentation gives (and Poetry 2.5, Pipenv, Hatch and PDM were seen to answer so), which
is their contract with shopfloor.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from engine.layout import with_project_python
from gates.config import GatesConfig
from gates.env_tools import declared_tools
from gates.interpreter import ProjectPython, candidates, find_project_python
from gates.profiles import build_gates
from gates.sandbox import ProcessSandbox
from tests.gates.conftest import needs_bwrap
from tests.gates.test_project_python import TESTS, make_repo, make_venv

POETRY = (
    '[tool.poetry]\nname = "app"\nversion = "0.1.0"\n'
    '[tool.poetry.dependencies]\npython = "^3.11"\nfakedep = "*"\n'
)


def tool(bin_dir: Path, name: str, script: str) -> None:
    """An executable ``name`` in ``bin_dir`` running the shell ``script``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def answers(argv: str, out: str, *, otherwise: str = "exit 2") -> str:
    """A script printing ``out`` when called with exactly ``argv``."""
    return f'if [ "$*" = {shlex.quote(argv)} ]; then\n{out}\nelse\n{otherwise}\nfi'


def environ(bin_dir: Path, **more: str) -> dict[str, str]:
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", **more}


async def project_python(repo: Path, env: dict[str, str]) -> ProjectPython:
    """The interpreter found for ``repo`` with ``env``, asked in a sandbox of its own."""
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        return await find_project_python(candidates(repo, None, env), sandbox)
    finally:
        sandbox.close()


@pytest.mark.parametrize("jail", [False, pytest.param(True, marks=needs_bwrap)])
async def test_a_poetry_projects_tests_run_on_poetrys_environment(
    tmp_path: Path, jail: bool
) -> None:
    repo = make_repo(
        tmp_path / "repo", {"pyproject.toml": POETRY, "app.py": "", "tests/test_app.py": TESTS}
    )
    cache = tmp_path / "cache" / "virtualenvs" / "app-Xy12-py3.11"
    venv_python = make_venv(cache)
    bin_dir = tmp_path / "bin"
    tool(bin_dir, "poetry", answers("env info --path", f"echo {cache}"))
    found = candidates(repo, None, environ(bin_dir))
    sandbox = ProcessSandbox(use_bwrap=jail, extra_readable=found.readable_dirs())
    try:
        python = await find_project_python(found, sandbox)
        assert python.path == str(venv_python), python
        assert python.origin == "Poetry's environment (poetry env info --path)"
        assert not python.warning
        gates = build_gates(repo, GatesConfig(), sandbox, python=python.path)
        result = await next(g for g in gates.task if g.name == "tests").check(repo)
    finally:
        sandbox.close()
    assert result.passed, result.summary


async def test_a_declared_tool_without_environment_or_not_on_path_is_one_line(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", {"pyproject.toml": POETRY, "app.py": ""})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    missing = await project_python(repo, environ(bin_dir))
    # Poetry with no environment for the project prints nothing and exits 1.
    tool(bin_dir, "poetry", answers("env info --path", "exit 1"))
    empty = await project_python(repo, environ(bin_dir))
    assert missing.own and empty.own
    assert missing.warning.startswith(
        "pyproject.toml [tool.poetry] declares Poetry, but poetry is not on PATH: put poetry "
        'on PATH, or set [gates] python = "/path/to/its/environment/bin/python": the tests '
        "and mypy use shopfloor's own Python"
    ), missing.warning
    assert empty.warning.startswith(
        "pyproject.toml [tool.poetry] declares Poetry, but poetry env info --path found no "
        "environment (exit 1): run poetry install, or set [gates] python"
    ), empty.warning
    assert "\n" not in missing.warning + empty.warning


async def test_poetry_not_on_path_is_said_with_its_advice_once(tmp_path: Path) -> None:
    """crashtest's shape (runtime dependencies: python alone; pytest in a Poetry group): the
    line said "which may lack the project's dependencies (its own)" and offered
    "set [gates] python" twice, after the note that already did."""
    crashtest = (
        '[tool.poetry]\nname = "crashtest"\nversion = "0.4.1"\n'
        '[tool.poetry.dependencies]\npython = "^3.7"\n'
        '[tool.poetry.group.test.dependencies]\npytest = "^7.1.3"\npytest-cov = "^4.0.0"\n'
    )
    repo = make_repo(tmp_path / "repo", {"pyproject.toml": crashtest, "app.py": ""})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = await project_python(repo, environ(bin_dir))
    assert python.warning.endswith("which may lack the project's dependencies (pyproject.toml)"), (
        python.warning
    )
    assert python.warning.count("[gates] python") == 1
    assert "its own)" not in python.warning


async def test_pipenv_is_asked_without_the_users_activated_environment(tmp_path: Path) -> None:
    """Pipenv answers ``--venv`` with an activated virtualenv (``VIRTUAL_ENV``), whatever the
    project's: so it is asked without one."""
    repo = make_repo(tmp_path / "repo", {"Pipfile": "[packages]\nfakedep = '*'\n", "app.py": ""})
    venv_python = make_venv(tmp_path / "share" / "virtualenvs" / "repo-AbC123")
    other = tmp_path / "other"
    bin_dir = tmp_path / "bin"
    where = venv_python.parent.parent
    tool(bin_dir, "pipenv", answers("--venv", f'echo "${{VIRTUAL_ENV:-{where}}}"'))
    found = candidates(repo, None, environ(bin_dir, VIRTUAL_ENV=str(other)))
    assert found.found[0] == (str(venv_python), "Pipenv's environment (pipenv --venv)")


async def test_hatch_is_used_once_its_environment_is_created(tmp_path: Path) -> None:
    """``hatch env find`` names where the environment would be even before it exists."""
    files = {"pyproject.toml": '[project]\nname = "app"\n[tool.hatch.envs.default]\n'}
    repo = make_repo(tmp_path / "repo", files)
    where = tmp_path / "hatch" / "env" / "virtual" / "app" / "Qz9" / "app"
    bin_dir = tmp_path / "bin"
    tool(bin_dir, "hatch", answers("env find", f"echo {where}"))
    before = candidates(repo, None, environ(bin_dir))
    assert before.found == ()
    assert before.notes == (
        f"pyproject.toml [tool.hatch.envs] declares Hatch, but hatch env find names {where}, "
        'not created yet: run hatch env create, or set [gates] python = "/path/to/its/'
        'environment/bin/python"',
    )
    venv_python = make_venv(where)
    after = candidates(repo, None, environ(bin_dir))
    assert after.found == ((str(venv_python), "Hatch's environment (hatch env find)"),)
    # hatchling as the build backend alone is no Hatch environment to ask for.
    (repo / "pyproject.toml").write_text('[project]\nname = "app"\n[tool.hatch.build]\n')
    assert declared_tools(repo) == {}


async def test_pdm_is_read_from_pdm_python_and_never_run(tmp_path: Path) -> None:
    """``pdm info --python`` creates a virtualenv and writes .pdm-python in a project with
    none: PDM's choice is read from the file instead."""
    repo = make_repo(tmp_path / "repo", {"pyproject.toml": "[tool.pdm]\n", "app.py": ""})
    bin_dir = tmp_path / "bin"
    tool(bin_dir, "pdm", f"touch {tmp_path / 'pdm-ran'}")
    none = candidates(repo, None, environ(bin_dir))
    venv_python = make_venv(tmp_path / "pdm" / "venvs" / "app-Hk2")
    (repo / ".pdm-python").write_text(f"{venv_python}\n")
    chosen = candidates(repo, None, environ(bin_dir))
    assert not (tmp_path / "pdm-ran").exists()
    assert "declares PDM, but it has chosen no interpreter" in none.notes[0]
    assert chosen.found == ((str(venv_python), "PDM's environment (.pdm-python)"),)


async def test_a_venv_whose_python_link_is_broken_is_said_as_such(tmp_path: Path) -> None:
    """Its Python uninstalled (a pyenv or uv version removed): the run said "no virtualenv
    in REPO", with one right there."""
    repo = make_repo(tmp_path / "repo", {"app.py": "", "requirements.txt": "httpx\n"})
    make_venv(repo / ".venv", with_pytest=False)
    link = repo / ".venv" / "bin" / "python"
    link.unlink()
    link.symlink_to(tmp_path / "pyenv" / "versions" / "3.10.2" / "bin" / "python3.10")
    python = await project_python(repo, {})
    assert python.own
    assert python.warning.startswith(
        f"{link} is a broken link to {tmp_path}/pyenv/versions/3.10.2/bin/python3.10: "
        "recreate that environment: the tests and mypy use shopfloor's own Python"
    ), python.warning


async def test_a_venv_file_naming_the_environment_is_followed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"app.py": ""})
    venv_python = make_venv(tmp_path / "envs" / "app")
    (repo / ".venv").write_text(f"{tmp_path / 'envs' / 'app'}\n")
    named = candidates(repo, None, {})
    assert named.found == ((str(venv_python), f"the environment {repo / '.venv'} names"),)
    (repo / ".venv").write_text("app\n")  # a name under $WORKON_HOME
    by_name = candidates(repo, None, {"WORKON_HOME": str(tmp_path / "envs")})
    assert by_name.found == named.found
    (repo / ".venv").write_text("gone\n")
    python = await project_python(repo, {})
    assert python.own and python.warning.startswith(
        f"{repo / '.venv'} is a file, not a virtualenv, and names 'gone', which holds no "
        "bin/python: the tests and mypy use shopfloor's own Python"
    ), python.warning


def conda_env(prefix: Path, venv_python: Path) -> Path:
    """A conda-style environment (``conda-meta``, no ``pyvenv.cfg``) whose python runs the
    interpreter of ``venv_python``'s virtualenv."""
    (prefix / "conda-meta").mkdir(parents=True)
    tool(prefix / "bin", "python", f'exec {venv_python} "$@"')
    return prefix / "bin" / "python"


async def test_an_activated_conda_environment_is_the_projects(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"app.py": "", "requirements.txt": "fakedep\n"})
    conda_python = conda_env(tmp_path / "miniconda3" / "envs" / "app", make_venv(tmp_path / "v"))
    prefix = str(conda_python.parent.parent)
    active = {"CONDA_PREFIX": prefix, "CONDA_DEFAULT_ENV": "app"}
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        python = await find_project_python(candidates(repo, None, active), sandbox)
        base = candidates(repo, None, {**active, "CONDA_DEFAULT_ENV": "base"})
        # A test that runs `python` by name gets the environment's, first on PATH.
        which = await sandbox.run(
            ["sh", "-c", "command -v python"],
            repo,
            env=with_project_python({}, python.path),
        )
    finally:
        sandbox.close()
    assert python.path == str(conda_python) and not python.warning
    assert python.origin == "the activated conda environment"
    assert base.found == ()  # conda's base, active in every shell, says nothing of the project
    assert which.output.strip() == str(conda_python), which.output
