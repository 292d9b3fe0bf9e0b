"""The gates on repositories that are not one plain Python package at the top: a monorepo
whose Python project lives in ``services/api``, a Node package with a Python helper script,
a Node suite that names its files by absolute path. And the gate cache across tool upgrades.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import gates.cache
from engine.protocols import GateResult
from engine.recon import Baseline, BaselineGate
from gates.cache import GateCache
from gates.command_gate import CommandGate
from gates.config import GatesConfig
from gates.profiles import build_gates
from gates.pytest_gate import PytestGate
from gates.repo_shape import is_python_repo, python_projects
from gates.sandbox import ProcessSandbox

NO_PLUGINS = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
}


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def monorepo(root: Path, *, broken: bool = False) -> Path:
    expected = '"pong!"' if broken else '"pong"'
    return write(
        root,
        {
            "README.md": "# platform\n",
            "web/package.json": '{"name": "web"}\n',
            "services/api/pyproject.toml": "[tool.pytest.ini_options]\npythonpath = ['.']\n",
            "services/api/app/__init__.py": "",
            "services/api/app/main.py": 'def ping() -> str:\n    return "pong"\n',
            "services/api/tests/test_main.py": "from app.main import ping\n\n\n"
            f"def test_ping() -> None:\n    assert ping() == {expected}\n",
        },
    )


def test_python_a_few_folders_down_is_found_and_tested_where_its_project_is(
    tmp_path: Path,
) -> None:
    repo = monorepo(tmp_path / "repo")
    assert is_python_repo(repo)
    assert python_projects(repo) == ("services/api",)
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        names = build_gates(repo, GatesConfig(), sandbox).names()
    finally:
        sandbox.close()
    assert {"lint", "tests"} <= set(names["task"])
    flat = write(tmp_path / "flat", {"pkg/mod.py": "X = 1\n"})
    assert python_projects(flat) == (".",)


async def test_a_monorepo_project_runs_with_its_own_settings_in_each_sandbox(
    tmp_path: Path, any_sandbox: ProcessSandbox
) -> None:
    repo = monorepo(tmp_path / "repo")
    gate = PytestGate(any_sandbox, env=NO_PLUGINS, timeout_s=60, projects=("services/api",))
    result = await gate.check(repo)
    assert result.passed and result.summary.startswith("services/api: 1 passed"), result.summary
    assert result.counts["passed"] == 1

    broken = monorepo(tmp_path / "broken", broken=True)
    result = await gate.check(broken)
    assert not result.passed
    (finding,) = result.findings
    assert finding.key == "services/api/tests/test_main.py::test_ping"
    assert finding.file == "services/api/tests/test_main.py" and finding.line == 5
    assert not (broken / "services/api/.shopfloor").exists()


async def test_a_monorepos_top_level_tests_outside_every_project_still_run(
    tmp_path: Path, process_sandbox: ProcessSandbox
) -> None:
    """End-to-end tests in the top-level ``tests/`` of a monorepo whose projects live below:
    pytest ran only in ``services/api``, so a failing end-to-end test left the gate green.
    They run at the top, beside each project run in its own folder (and not twice)."""
    repo = monorepo(tmp_path / "repo")
    write(repo, {"tests/test_e2e.py": "def test_e2e() -> None:\n    assert 1 == 2\n"})
    projects = python_projects(repo)
    assert projects == (".", "services/api")
    gate = PytestGate(process_sandbox, env=NO_PLUGINS, timeout_s=60, projects=projects)
    result = await gate.check(repo)
    assert not result.passed, result.summary
    assert [f.key for f in result.findings] == ["tests/test_e2e.py::test_e2e"]
    assert (result.counts["passed"], result.counts["failures"]) == (1, 1)


def test_a_node_package_with_a_python_script_gets_no_pytest_gate(tmp_path: Path) -> None:
    repo = write(
        tmp_path / "js",
        {
            "package.json": '{"scripts": {"test": "node --test"}}\n',
            "calc.js": "exports.add = (a, b) => a + b;\n",
            "scripts/release.py": "print('release')\n",
        },
    )
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        names = build_gates(repo, GatesConfig(), sandbox).names()
        write(repo, {"scripts/test_release.py": "def test_x() -> None:\n    pass\n"})
        with_tests = build_gates(repo, GatesConfig(), sandbox).names()
    finally:
        sandbox.close()
    assert "node-test" in names["task"] and "lint" in names["task"]
    assert "tests" not in names["task"]
    assert "tests" in with_tests["task"]


async def test_an_old_failure_named_by_absolute_path_is_the_same_in_another_worktree(
    tmp_path: Path, process_sandbox: ProcessSandbox
) -> None:
    script = (
        "import os, sys\n"
        "print(f'  at test (file://{os.getcwd()}/calc.test.js:4:29)')\n"
        "sys.exit(1)\n"
    )
    files = {"calc.test.js": "// four\n// lines\n// of\n// test\n", "run.py": script}
    base = write(tmp_path / "base", files)
    attempt = write(tmp_path / "attempt-2", files)
    gate = CommandGate(process_sandbox, name="node-test", argv=["python", "run.py"])
    before = await gate.check(base)
    assert not before.passed and "calc.test.js:4:29" in before.findings[1].message
    assert str(base) not in before.findings[1].message
    after = await BaselineGate(gate, Baseline((before,))).check(attempt)
    assert after.passed, after.summary


@pytest.fixture
def committed(tmp_path: Path) -> Path:
    repo = write(tmp_path / "repo", {"a.py": "X = 1\n"})
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        subprocess.run(["git", *argv], cwd=repo, env=GIT_ENV, check=True)
    return repo


async def test_a_tool_upgrade_is_a_cache_miss(
    tmp_path: Path, committed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = committed

    class Counting:
        name = "lint"
        runs = 0

        async def check(self, workspace: Path) -> GateResult:
            Counting.runs += 1
            return GateResult(gate="lint", passed=True, summary="clean")

    cache = GateCache(tmp_path / "cache")
    gate = cache.wrap(Counting())
    await gate.check(repo)
    assert (await gate.check(repo)).cached and Counting.runs == 1
    monkeypatch.setattr(gates.cache, "tool_versions", lambda: "ruff==99.0")
    assert not (await GateCache(tmp_path / "cache").wrap(Counting()).check(repo)).cached
    assert Counting.runs == 2


def two_typed_projects(root: Path) -> Path:
    """A monorepo whose projects type-check differently: ``strict`` wants every function
    annotated, ``loose`` imports a package with no stubs and says to ignore that."""
    return write(
        root,
        {
            "README.md": "# platform\n",
            "strict/pyproject.toml": "[project]\nname = 'core'\n\n[tool.mypy]\nstrict = true\n",
            "strict/core/__init__.py": "",
            "strict/core/calc.py": "def double(x):\n    return x * 2\n",
            "loose/pyproject.toml": "[project]\nname = 'app'\n\n"
            "[tool.mypy]\nignore_missing_imports = true\n",
            "loose/app/__init__.py": "",
            "loose/app/main.py": "import not_installed_anywhere\n\n\n"
            "def run(n: int) -> int:\n    return n\n",
        },
    )


async def test_each_monorepo_project_is_type_checked_with_its_own_mypy_settings(
    tmp_path: Path, process_sandbox: ProcessSandbox
) -> None:
    """Each project's ``[tool.mypy]`` is what its maintainers run: mypy from the top read
    neither (the types gate was not even chosen; enabled, it missed ``strict``'s untyped
    function and failed ``loose`` on the import its settings ignore)."""
    repo = two_typed_projects(tmp_path / "repo")
    gate_set = build_gates(repo, GatesConfig(), process_sandbox)
    assert "types" in gate_set.names()["task"]
    (types,) = [g for g in gate_set.task if g.name == "types"]
    result = await types.check(repo)
    assert not result.passed, result.summary
    assert [(f.file, f.line) for f in result.findings] == [("strict/core/calc.py", 1)]
    assert "[no-untyped-def]" in result.findings[0].message
    assert "strict: 1 type error(s)" in result.summary and "loose: clean" in result.summary


@pytest.mark.parametrize("config", ["pytest.ini", "tox.ini"])
async def test_a_monorepo_project_configured_only_by_its_pytest_ini_is_tested_there(
    tmp_path: Path, process_sandbox: ProcessSandbox, config: str
) -> None:
    """A Django-style ``backend/`` with a ``pytest.ini`` (or ``tox.ini``) and no
    pyproject.toml was not taken for a project: pytest ran at the top, never read the
    ``pythonpath`` it sets, and the tests failed to import the app."""
    repo = write(
        tmp_path / "repo",
        {
            "README.md": "# shop\n",
            "web/package.json": '{"name": "web"}\n',
            f"backend/{config}": "[pytest]\npythonpath = src\n",
            "backend/requirements.txt": "",
            "backend/src/shop/__init__.py": "",
            "backend/src/shop/prices.py": "def net(gross: int) -> int:\n    return gross - 1\n",
            "backend/tests/test_prices.py": "from shop.prices import net\n\n\n"
            "def test_net() -> None:\n    assert net(10) == 9\n",
        },
    )
    assert python_projects(repo) == ("backend",)
    gate = PytestGate(process_sandbox, env=NO_PLUGINS, timeout_s=60, projects=("backend",))
    result = await gate.check(repo)
    assert result.passed and result.summary.startswith("backend: 1 passed"), result.summary


async def test_a_src_layout_package_is_importable_by_its_tests(
    tmp_path: Path, any_sandbox: ProcessSandbox
) -> None:
    """``src/shop`` with ``tests/`` importing ``shop``: its developers run the tests after
    ``pip install -e .``, which the gates' Python has never done, so every test failed to
    import the package (red at baseline, and each new test red as well). The gate puts the
    project's ``src`` on the path, as an editable install would."""
    repo = write(
        tmp_path / "repo",
        {
            "pyproject.toml": "[project]\nname = 'shop'\nversion = '0.1'\n",
            "src/shop/__init__.py": "def net(gross: int) -> int:\n    return gross - 1\n",
            "tests/test_shop.py": "import shop\n\n\n"
            "def test_net() -> None:\n    assert shop.net(10) == 9\n",
        },
    )
    result = await PytestGate(any_sandbox, env=NO_PLUGINS, timeout_s=60).check(repo)
    assert result.passed, result.failure_context()
    assert result.counts["passed"] == 1


async def test_another_python_is_a_cache_miss(
    tmp_path: Path, committed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache lives on disk between runs, and the tests and types gates judge a tree with
    the Python shopfloor runs on: after the user moved shopfloor to another Python (same
    tool versions), a verdict stored under the old one was reused — a baseline said green
    for tests that now fail, and each task was told it broke them."""

    class Counting:
        name = "tests"
        runs = 0

        async def check(self, workspace: Path) -> GateResult:
            Counting.runs += 1
            return GateResult(gate="tests", passed=True, summary="1 passed")

    await GateCache(tmp_path / "cache").wrap(Counting()).check(committed)
    assert (await GateCache(tmp_path / "cache").wrap(Counting()).check(committed)).cached
    monkeypatch.setattr(sys, "version", "3.99.0 (main, Jan 1 2030, 00:00:00) [GCC 99]")
    assert not (await GateCache(tmp_path / "cache").wrap(Counting()).check(committed)).cached
    assert Counting.runs == 2


@pytest.mark.parametrize(
    ("config_file", "config"),
    [
        ("pyproject.toml", '[tool.mypy]\npackages = ["app"]\n'),
        ("pyproject.toml", '[tool.mypy]\nmodules = ["app.calc"]\n'),
        ("mypy.ini", "[mypy]\npackages = app\n"),
    ],
)
async def test_mypy_configured_with_its_packages_checks_them_as_the_maintainers_do(
    tmp_path: Path, process_sandbox: ProcessSandbox, config_file: str, config: str
) -> None:
    """A repository whose mypy configuration names ``packages`` (or ``modules``) runs plain
    ``mypy``; the types gate ran ``mypy .`` there, which also read a ``bench/app.py`` script
    beside the ``app`` package and stopped at once on 'Duplicate module named "app"' (exit
    2, no type checked): shopfloor's own repository audited so."""
    repo = write(
        tmp_path / "repo",
        {
            config_file: config,
            "app/__init__.py": "",
            "app/calc.py": "def double(x: int) -> int:\n    return str(x)\n",
            "bench/app.py": "print('a benchmark script, not checked by mypy')\n",
        },
    )
    gate_set = build_gates(repo, GatesConfig(), process_sandbox)
    (types,) = [g for g in gate_set.task if g.name == "types"]
    result = await types.check(repo)
    assert not result.passed
    assert [(f.file, f.line) for f in result.findings] == [("app/calc.py", 2)], result.summary
    assert "Duplicate module" not in result.summary


UNTYPED = "def double(x):\n    return x * 2\n"
STRICT = "[project]\nname = 'core'\n\n[tool.mypy]\nstrict = true\n"
LAX = "[tool.mypy]\nwarn_unused_configs = true\n"


def git_init(repo: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)


def mypy_from(folder: Path, cache: Path) -> list[tuple[str, int]]:
    """``(file, line)`` of each error mypy reports run in ``folder`` as its maintainers run it
    (``mypy .``: the configuration it finds from there)."""
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir", str(cache), "."],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    found = []
    for line in done.stdout.splitlines():
        file, _, rest = line.partition(":")
        number, _, kind = rest.partition(":")
        if kind.strip().startswith("error"):
            found.append((file, int(number)))
    return found


@pytest.mark.parametrize("outer", [".", "services"])
async def test_a_project_with_its_own_mypy_config_inside_a_configured_one_is_checked_by_it(
    tmp_path: Path, process_sandbox: ProcessSandbox, outer: str
) -> None:
    """mypy run in a subproject reads the subproject's own configuration (it looks upwards
    from where it runs). The types gate ran the outer configured folder alone, whose lax
    settings then judged the strict subproject: its untyped function passed."""
    at = "" if outer == "." else f"{outer}/"
    repo = write(
        tmp_path / "repo",
        {
            "README.md": "# platform\n",
            f"{at}pyproject.toml": LAX,
            f"{at}app.py": UNTYPED,  # fine by the outer, lax settings
            f"{at}bad.py": 'x: int = "one"\n',  # an error by any
            f"{at}core/pyproject.toml": STRICT,
            f"{at}core/calc.py": UNTYPED,
        },
    )
    git_init(repo)  # where mypy stops looking upwards for a configuration
    gate_set = build_gates(repo, GatesConfig(), process_sandbox)
    (types,) = [g for g in gate_set.task if g.name == "types"]
    result = await types.check(repo)
    found = [(f.file, f.line) for f in result.findings]
    assert found == [(f"{at}bad.py", 1), (f"{at}core/calc.py", 1)]
    assert not result.passed
    assert mypy_from(repo / at / "core", tmp_path / "c1") == [("calc.py", 1)]
    assert mypy_from(repo / outer, tmp_path / "c2") == [("bad.py", 1)]  # not calc.py
