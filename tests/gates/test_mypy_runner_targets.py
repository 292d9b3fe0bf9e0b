"""The types gate checks what the project's tox or nox hands mypy: the packages and modules
of ``mypy -p pkg`` / ``-m mod`` too (they were read as no target: the whole repository was
checked), and tox configured in ``tox.toml``, in ``pyproject.toml``'s ``[tool.tox]`` (TOML or
``legacy_tox_ini``) or in ``setup.cfg`` (only ``tox.ini`` was read)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gates.config import GatesConfig
from gates.mypy_runners import runner_mypy_targets, runs_mypy
from gates.profiles import detected_gates
from gates.sandbox import ProcessSandbox
from gates.tox_config import tox_commands
from tui.commands.init import detect_gates

MakeRepo = Callable[[dict[str, str]], Path]

FLAT = {"pkg/__init__.py": "", "pkg/sub.py": "", "tool.py": "", "src/other.py": ""}
SRC = {"src/pkg/__init__.py": "", "src/pkg/sub.py": "", "src/solo.py": ""}


@pytest.mark.parametrize(
    ("files", "tox_ini", "targets"),
    [
        (FLAT, "mypy -p pkg", ("-p", "pkg")),
        (FLAT, "python -m mypy --strict --package pkg -m tool", ("-p", "pkg", "-m", "tool")),
        (FLAT, "mypy --package=pkg --module=pkg.sub", ("-p", "pkg", "-m", "pkg.sub")),
        (FLAT, "mypy -ppkg --python-version 3.12", ("-p", "pkg")),
        (FLAT, "mypy --pack pkg", ()),  # ambiguous: --package, --package-root
        (FLAT, "mypy --modul tool", ("-m", "tool")),
        (FLAT, "mypy -p pkg src", ()),  # mypy: 'May only specify one of: module/package, ...'
        (FLAT, "mypy -p {posargs:pkg}", ("-p", "pkg")),
        (FLAT, "mypy -p pkg {posargs:src}", ()),
        (FLAT, "mypy -p gone", ()),
        (FLAT, "mypy -c 'x: int = 1'", ()),
        (FLAT, "mypy src\n    mypy -p pkg", ("src", "pkg")),
        (SRC, "mypy -p pkg", ("src/pkg",)),
        (
            SRC,
            "mypy -m pkg -m pkg.sub -m solo",
            ("src/pkg/__init__.py", "src/pkg/sub.py", "src/solo.py"),
        ),
        ({**SRC, "mypy.ini": "[mypy]\nmypy_path = src\n"}, "mypy -p pkg", ("-p", "pkg")),
        (
            {**SRC, "pyproject.toml": '[tool.mypy]\nmypy_path = ["$MYPY_CONFIG_FILE_DIR/src"]\n'},
            "mypy -m pkg.sub",
            ("-m", "pkg.sub"),
        ),
    ],
    ids=[
        "p",
        "package-and-module",
        "equals",
        "glued",
        "ambiguous-prefix",
        "unique-prefix",
        "files-beside-package",
        "posargs-default",
        "posargs-default-file",
        "missing",
        "command",
        "two-envs",
        "src-package",
        "src-modules",
        "mypy-path-ini",
        "mypy-path-toml",
    ],
)
def test_packages_and_modules_tox_names_to_mypy(
    make_repo: MakeRepo, files: dict[str, str], tox_ini: str, targets: tuple[str, ...]
) -> None:
    """As mypy finds them from the folder it runs in and its ``mypy_path``; a ``src/``
    package mypy would take from the interpreter's site-packages (the checkout it was
    installed from, not the workspace) is checked as its folder in the workspace."""
    repo = make_repo({**files, "tox.ini": f"[testenv:typing]\ncommands =\n    {tox_ini}\n"})
    assert runner_mypy_targets(repo) == targets


def test_packages_a_nox_session_names_to_mypy(make_repo: MakeRepo) -> None:
    nox = "def typing(session):\n    session.run('mypy', '-p', 'pkg', *session.posargs)\n"
    repo = make_repo({**SRC, "noxfile.py": nox})
    assert runner_mypy_targets(repo) == ("src/pkg",)


TOX_TOML = """\
env_list = ["3.13", "type"]

[env_run_base]
commands = [["pytest", { replace = "posargs", default = ["tests"], extend = true }]]

[env.type]
deps = ["mypy"]
commands = [["mypy", { replace = "posargs", default = ["src", "tests"], extend = true }]]
"""
TOOL_TOX = """\
[project]
name = "pkg"

[tool.tox.env.type]
commands = [["python", "-m", "mypy", "-p", "pkg"], ["mypy", { replace = "env", name = "X" }]]
"""
LEGACY = '[tool.tox]\nlegacy_tox_ini = """\n[testenv:typing]\ncommands = mypy tests\n"""\n'
SETUP_CFG = "[metadata]\nname = pkg\n\n[tox:tox]\nenvlist = py\n\n[testenv]\ncommands = mypy src\n"


@pytest.mark.parametrize(
    ("files", "source", "targets"),
    [
        ({"tox.toml": TOX_TOML}, "tox.toml", ("src", "tests")),
        ({"pyproject.toml": TOOL_TOX}, "pyproject.toml", ("src/pkg",)),
        ({"pyproject.toml": LEGACY}, "pyproject.toml", ("tests",)),
        ({"setup.cfg": SETUP_CFG}, "setup.cfg", ("src",)),
        # tox reads the first place that configures it, the others not at all
        ({"tox.ini": "[testenv]\ncommands = pytest\n", "tox.toml": TOX_TOML}, "", ()),
        ({"pyproject.toml": TOOL_TOX, "tox.toml": TOX_TOML}, "pyproject.toml", ("src/pkg",)),
        (
            {"setup.cfg": "[metadata]\nname = pkg\n", "tox.toml": TOX_TOML},
            "tox.toml",
            ("src", "tests"),
        ),
    ],
    ids=[
        "tox-toml",
        "tool-tox",
        "legacy-tox-ini",
        "setup-cfg",
        "ini-first",
        "pyproject-first",
        "cfg-without-tox",
    ],
)
def test_tox_configured_in_toml_is_read(
    make_repo: MakeRepo, files: dict[str, str], source: str, targets: tuple[str, ...]
) -> None:
    repo = make_repo({**SRC, "tests/test_pkg.py": "", **files})
    assert runs_mypy(repo) == source
    assert runner_mypy_targets(repo) == targets


@pytest.mark.parametrize(
    "text",
    [
        'env_list = ["type"\n[env.type]\ncommands = [["mypy", "-p", "pkg"]]\n',
        '[env.type]\ncommands = "mypy -p pkg"\n',
        "[env]\ntype = 3\n[env_run_base]\n"
        "commands = [[1, {}], 'mypy', [{ replace = 'posargs' }]]\n",
        "\udcff",
    ],
    ids=["invalid-toml", "commands-a-string", "odd-shapes", "not-utf-8"],
)
def test_a_malformed_tox_toml_is_ignored_with_one_line(make_repo: MakeRepo, text: str) -> None:
    repo = make_repo(SRC)
    (repo / "tox.toml").write_bytes(text.encode("utf-8", errors="surrogateescape"))
    assert runs_mypy(repo) == ""
    assert runner_mypy_targets(repo) == ()
    problem = tox_commands(repo).problem
    if text.startswith('env_list = ["type"'):
        assert problem.startswith("tox.toml: not valid TOML (") and "\n" not in problem
        assert f"# {problem}." in detect_gates(repo)
    elif text == "\udcff":
        assert problem == "tox.toml: unreadable (UnicodeDecodeError); its commands are not read"


REPO = {
    "pyproject.toml": '[project]\nname = "pkg"\n',
    "pkg/__init__.py": "from pkg.sub import Y\n",
    "pkg/sub.py": "Y: int = 'inside the package'\n",
    "scripts/tool.py": "Z: int = 'outside the package'\n",
}


@pytest.mark.parametrize(
    "files",
    [
        {"tox.ini": "[testenv:typing]\ncommands = mypy -p pkg\n"},
        {"tox.toml": '[env.typing]\ncommands = [["mypy", "--package", "pkg"]]\n'},
        {
            "src/pkg/__init__.py": "from pkg.sub import Y\n",
            "tox.toml": TOX_TOML.replace(
                '{ replace = "posargs", default = ["src", "tests"], extend = true }', '"-p", "pkg"'
            ),
        },
    ],
    ids=["tox-ini", "tox-toml", "src-layout"],
)
async def test_the_gate_checks_the_package_tox_names_and_nothing_else(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo, files: dict[str, str]
) -> None:
    """Real mypy: the type error inside the named package fails the gate; the one outside
    it, which the project's own tox run never sees, is not reported."""
    shape = dict(REPO)
    if "src/pkg/__init__.py" in files:
        shape = {k.replace("pkg/", "src/pkg/"): v for k, v in shape.items()}
    repo = make_repo({**shape, **files})
    gates, _ = detected_gates(repo, GatesConfig(), process_sandbox)
    result = await gates["types"].check(repo)
    assert not result.passed
    inside = "src/pkg/sub.py" if "src/pkg/__init__.py" in files else "pkg/sub.py"
    assert [(f.file, f.line) for f in result.findings] == [(inside, 1)], result.summary


MAKEFILE = """\
PACKAGE = pkg
PYTHON ?= .venv/bin/python

.PHONY: typecheck test
typecheck:
\t@$(PYTHON) -m mypy --strict -p $(PACKAGE) && echo typed
test:
\t-pytest tests
"""


@pytest.mark.parametrize(
    ("makefile", "targets", "runs"),
    [
        (MAKEFILE, ("-p", "pkg"), "Makefile"),
        (
            "check:\n\tmypy src; ruff check .\n\tmypy \\\n\t  tests | tee log\n",
            ("src", "tests"),
            "Makefile",
        ),
        ("check:\n\tmypy -p $(UNSET) src/pkg\n", (), "Makefile"),  # files beside a -p: mypy refuses
        ("check:\n\tmypy $$(git ls-files '*.py')\n", (), "Makefile"),
        ("check:\n\tmypy 'src\n", (), ""),
        ("check:\n\tpytest --mypy\n", (), ""),
    ],
    ids=["variables", "shell-breaks", "unresolved", "shell-computed", "unclosed-quote", "no-mypy"],
)
def test_what_a_makefile_runs_mypy_on(
    make_repo: MakeRepo, makefile: str, targets: tuple[str, ...], runs: str
) -> None:
    repo = make_repo({"pkg/__init__.py": "", "src/pkg/__init__.py": "", "tests/t.py": ""})
    (repo / "Makefile").write_text(makefile)
    assert runner_mypy_targets(repo) == targets
    assert runs_mypy(repo) == runs


async def test_the_gate_checks_the_package_a_makefile_names(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    """No mypy configuration, no tox: `make typecheck` runs `mypy -p pkg`. The types gate
    runs, and only the package's type error is reported."""
    repo = make_repo({**REPO, "Makefile": MAKEFILE})
    assert "# mypy runs in Makefile, so the types gate runs too." in detect_gates(repo)
    gates, _ = detected_gates(repo, GatesConfig(), process_sandbox)
    result = await gates["types"].check(repo)
    assert [(f.file, f.line) for f in result.findings] == [("pkg/sub.py", 1)], result.summary


async def test_the_gates_summary_says_a_malformed_tox_toml_was_not_read(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    """mypy configured with no files of its own, tox.toml's mypy command unreadable: the
    gate checks the whole folder, as before, and its verdict says why in one line."""
    repo = make_repo(
        {
            "pyproject.toml": '[project]\nname = "pkg"\n\n[tool.mypy]\nstrict = true\n',
            "pkg/__init__.py": "X: int = 1\n",
            "tox.toml": '[env.type]\ncommands = [["mypy", "-p", "pkg"]\n',
        }
    )
    gates, _ = detected_gates(repo, GatesConfig(), process_sandbox)
    result = await gates["types"].check(repo)
    assert result.passed
    assert result.summary.startswith("clean; tox.toml: not valid TOML ("), result.summary
    assert result.summary.endswith("); its commands are not read")
    assert "\n" not in result.summary
