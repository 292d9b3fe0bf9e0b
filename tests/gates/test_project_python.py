"""The tests gate, run_tests and mypy run on the project's own Python, not shopfloor's.

Each repository here builds its own virtualenv (``python -m venv --without-pip``) holding a
module only it has, ``fakedep``: on shopfloor's interpreter every test importing it errored
"dependencies not installed", and no attempt could ever pass the tests gate.
"""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from agents.provider import ToolCall
from agents.toolbelt import Toolbelt
from gates.config import GatesConfig
from gates.interpreter import (
    Candidates,
    InterpreterError,
    candidates,
    declared_dependencies,
    find_project_python,
)
from gates.profiles import build_gates
from gates.sandbox import ProcessSandbox
from tests.gates.conftest import needs_bwrap

TESTS = "from fakedep import answer\n\n\ndef test_answer() -> None:\n    assert answer() == 42\n"


def make_venv(where: Path, *, with_pytest: bool = True) -> Path:
    """A virtualenv at ``where`` with ``fakedep`` (typed) and, if asked, shopfloor's pytest."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = where / "lib" / version / "site-packages"
    package = site / "fakedep"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("def answer() -> int:\n    return 42\n")
    (package / "py.typed").write_text("")
    if with_pytest:  # pytest from shopfloor's environment, and nothing else of it on the path
        (site / "shopfloor_pytest.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return where / "bin" / "python"


def make_repo(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def sandbox_for(
    repo: Path, configured: str | None = None, *, jail: bool
) -> tuple[Candidates, ProcessSandbox]:
    """What to try for ``repo`` (in an environment with nothing activated, no tool on PATH),
    and a sandbox that shows it."""
    found = candidates(repo, configured, {})
    return found, ProcessSandbox(use_bwrap=jail, extra_readable=found.readable_dirs())


@pytest.mark.parametrize("jail", [False, pytest.param(True, marks=needs_bwrap)])
async def test_the_tests_gate_runs_on_the_repositorys_venv(tmp_path: Path, jail: bool) -> None:
    repo = make_repo(tmp_path / "repo", {"app.py": "", "tests/test_app.py": TESTS})
    venv_python = make_venv(repo / ".venv")
    # The worktree has no .venv (it is untracked): the repository's is the one found.
    tree = make_repo(tmp_path / "worktree", {"app.py": "", "tests/test_app.py": TESTS})
    found, sandbox = sandbox_for(repo, jail=jail)  # bwrap hides /tmp, where this venv lies
    try:
        python = await find_project_python(found, sandbox)
        assert python.path == str(venv_python) and python.origin == "the repository's .venv"
        assert python.has_pytest and not python.warning
        gates = build_gates(repo, GatesConfig(), sandbox, python=python.path)
        tests = next(g for g in gates.task if g.name == "tests")
        result = await tests.check(tree)
        assert result.passed, result.summary
        toolbelt = Toolbelt(tree, sandbox, python=python.path)
        said = await toolbelt.execute(ToolCall("1", "run_tests", {}))
        assert "1 passed" in said.text, said.text
    finally:
        sandbox.close()


SPAWNS = (
    "import subprocess\n\n\ndef test_python_by_name_is_the_projects() -> None:\n"
    "    subprocess.run(['python', '-c', 'import fakedep'], check=True)\n"
)


@pytest.mark.parametrize("jail", [False, pytest.param(True, marks=needs_bwrap)])
async def test_a_test_running_python_by_name_gets_the_projects_venv(
    tmp_path: Path, jail: bool
) -> None:
    """pytest ran on the project's venv, but shopfloor's venv came first on the sandbox's
    PATH: a test spawning ``python`` (or the project's console script) got shopfloor's
    interpreter, without the project's dependencies, and failed."""
    files = {"app.py": "", "tests/test_spawn.py": SPAWNS}
    repo = make_repo(tmp_path / "repo", files)
    make_venv(repo / ".venv")
    tree = make_repo(tmp_path / "worktree", files)
    found, sandbox = sandbox_for(repo, jail=jail)
    try:
        python = await find_project_python(found, sandbox)
        gates = build_gates(repo, GatesConfig(), sandbox, python=python.path)
        tests = next(g for g in gates.task if g.name == "tests")
        result = await tests.check(tree)
        assert result.passed, (result.summary, result.output_tail[-600:])
        said = await Toolbelt(tree, sandbox, python=python.path).execute(
            ToolCall("1", "run_tests", {})
        )
        assert "1 passed" in said.text, said.text
    finally:
        sandbox.close()


async def test_without_a_venv_shopfloors_own_python_is_used_and_said(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {"app.py": "", "pyproject.toml": '[project]\nname = "app"\ndependencies = ["httpx"]\n'},
    )
    found, sandbox = sandbox_for(repo, jail=False)
    try:
        python = await find_project_python(found, sandbox)
    finally:
        sandbox.close()
    assert python.own and "shopfloor's own Python" in python.warning
    assert "set [gates] python" in python.warning and "(pyproject.toml)" in python.warning


@pytest.mark.parametrize(
    "files",
    [
        {"app.py": ""},  # greenfield: the bundled demo's repository
        {"app.py": "", "pyproject.toml": '[project]\nname = "app"\ndependencies = []\n'},
        {"app.py": "", "requirements.txt": "# none yet\n"},
    ],
    ids=["no-declaration", "empty-dependencies", "commented-requirements"],
)
async def test_a_project_declaring_no_dependencies_gets_no_warning_on_shopfloors_python(
    tmp_path: Path, files: dict[str, str]
) -> None:
    """The demo said its (standard-library) project lacked its dependencies on every run."""
    repo = make_repo(tmp_path / "repo", files)
    found, sandbox = sandbox_for(repo, jail=False)
    try:
        python = await find_project_python(found, sandbox)
    finally:
        sandbox.close()
    assert python.own and python.warning == ""
    assert declared_dependencies(repo) == ""
    (repo / "requirements.txt").write_text("httpx>=0.27\n")
    assert declared_dependencies(repo) == "requirements.txt"


async def test_a_configured_python_relative_to_the_repo_is_used_and_a_missing_one_refused(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", {"app.py": ""})
    venv_python = make_venv(tmp_path / "repo" / "envs" / "dev")
    found, sandbox = sandbox_for(repo, "envs/dev/bin/python", jail=False)
    try:
        python = await find_project_python(found, sandbox)
        assert python.path == str(venv_python) and python.origin == "[gates] python"
        with pytest.raises(InterpreterError, match="nowhere/python does not exist"):
            await find_project_python(candidates(repo, "nowhere/python", {}), sandbox)
    finally:
        sandbox.close()
    with pytest.raises(ValueError, match="python must be the path"):
        GatesConfig.from_mapping({"python": ""})


async def test_a_venv_without_pytest_is_said_in_one_line(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"app.py": "", "tests/test_app.py": TESTS})
    make_venv(repo / ".venv", with_pytest=False)
    found, sandbox = sandbox_for(repo, jail=False)
    try:
        python = await find_project_python(found, sandbox)
        assert not python.has_pytest
        line = f"tests: pytest is not installed in {repo / '.venv'} (python -m pip install"
        assert python.pytest_missing().startswith(line)
        gates = build_gates(repo, GatesConfig(), sandbox, python=python.path)
        result = await next(g for g in gates.task if g.name == "tests").check(repo)
        # The engineer's run_tests said Python's bare "No module named pytest": the model
        # took it for its own code's failure and rewrote the code.
        said = await Toolbelt(repo, sandbox, python=python.path).execute(
            ToolCall("1", "run_tests", {})
        )
    finally:
        sandbox.close()
    assert not result.passed and result.summary.startswith(line), result.summary
    assert f"[exit code 1; {line}" in said.text, said.text


async def test_mypy_reads_the_projects_installed_packages(tmp_path: Path) -> None:
    files = {"pyproject.toml": "[tool.mypy]\nstrict = true\n", "app.py": "import fakedep\n"}
    repo = make_repo(tmp_path / "repo", files)
    make_venv(repo / ".venv", with_pytest=False)
    found, sandbox = sandbox_for(repo, jail=False)
    try:
        python = await find_project_python(found, sandbox)
        gates = build_gates(repo, GatesConfig(), sandbox, python=python.path)
        result = await next(g for g in gates.task if g.name == "types").check(repo)
    finally:
        sandbox.close()
    assert result.passed, result.summary


@needs_bwrap
async def test_the_jailed_command_cannot_write_into_the_venv(tmp_path: Path) -> None:
    # The venv inside the very folder the command runs in: that folder is writable, the venv
    # bound read-only over it.
    repo = make_repo(tmp_path / "repo", {"app.py": ""})
    venv_python = make_venv(repo / ".venv", with_pytest=False)
    _, sandbox = sandbox_for(repo, jail=True)
    try:
        script = "import pathlib; pathlib.Path('.venv/planted').write_text('x')"
        result = await sandbox.run([str(venv_python), "-c", script], repo)
        wrote = await sandbox.run([str(venv_python), "-c", "open('ok', 'w')"], repo)
    finally:
        sandbox.close()
    assert result.returncode != 0 and "Read-only file system" in result.output, result.output
    assert not (repo / ".venv" / "planted").exists()
    assert wrote.returncode == 0 and (repo / "ok").exists()


@pytest.mark.parametrize("jail", [False, pytest.param(True, marks=needs_bwrap)])
async def test_a_pytest_without_bytecode_is_said_with_the_command_that_compiles_it(
    tmp_path: Path, jail: bool
) -> None:
    """``uv sync`` compiles nothing, and the jail writes no bytecode: pytest and its
    dependencies were compiled from source again by every test run (0.64 s of CPU a one-file
    run, 0.34 s compiled), and nothing said so."""
    repo = make_repo(tmp_path / "repo", {"app.py": "", "tests/test_app.py": TESTS})
    make_venv(repo / ".venv", with_pytest=False)
    site = next((repo / ".venv" / "lib").glob("python*/site-packages"))
    make_repo(site, {"pytest/__init__.py": "version = 1\n"})  # installed, never compiled
    found, sandbox = sandbox_for(repo, jail=jail)
    try:
        before = await find_project_python(found, sandbox)
        compile_it = before.compile_advice().rpartition("`")[0].rpartition("`")[2]
        await asyncio.to_thread(subprocess.run, shlex.split(compile_it), check=True)
        after = await find_project_python(found, sandbox)
    finally:
        sandbox.close()
    assert before.uncompiled == str(site)
    assert before.compile_advice().startswith(f"pytest has no bytecode in {site}: every test run")
    assert compile_it == f"{repo / '.venv' / 'bin' / 'python'} -m compileall -q {site}"
    assert after.uncompiled == "" and after.compile_advice() == ""
