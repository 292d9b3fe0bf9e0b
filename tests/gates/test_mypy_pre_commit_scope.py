"""The types gate checks what the repository's pre-commit mypy hook checks, when its mypy
configuration names no files of its own (pluggy: ``files: ^(src/|testing/)``), and runs at
all where the repository runs mypy by its tox, nox or pre-commit without configuring it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gates.config import GatesConfig
from gates.mypy_config import pre_commit_mypy_excludes
from gates.mypy_gate import MypyGate
from gates.mypy_runners import runner_mypy_targets, runs_mypy
from gates.profiles import detected_gates
from gates.sandbox import ProcessSandbox
from tui.commands.init import detect_gates

MakeRepo = Callable[[dict[str, str]], Path]

HOOK = """\
repos:
-   repo: https://github.com/pre-commit/mirrors-mypy
    rev: v2.4.0
    hooks:
    -   id: mypy
        files: ^(src/|testing/)
        additional_dependencies: [pytest]
"""

PLUGGY_SHAPE = {
    "pyproject.toml": '[tool.mypy]\nmypy_path = "src"\ncheck_untyped_defs = true\n',
    "src/pkg/__init__.py": "def add(a: int, b: int) -> int:\n    return a + b\n",
    "testing/test_pkg.py": "from pkg import add\n\n\ndef test_add() -> None:\n"
    "    assert add(1, 2) == 3\n",
    # Two example projects' setup.py, as pluggy's docs/examples hold: one module name twice.
    "docs/examples/one/setup.py": "X: int = 1\n",
    "docs/examples/two/setup.py": "X: int = 'not checked by the project'\n",
}


async def test_the_hooks_files_are_what_mypy_checks(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    """Over ".", mypy stopped at 'Duplicate module named "setup"' (exit 2) and checked
    nothing; with the hook's scope the project is green, as its own CI says."""
    repo = make_repo({**PLUGGY_SHAPE, ".pre-commit-config.yaml": HOOK})
    result = await MypyGate(process_sandbox, timeout_s=120).check(repo)
    assert result.passed, result.summary


async def test_an_error_inside_the_hooks_files_still_fails(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    broken = {**PLUGGY_SHAPE, "src/pkg/more.py": "Y: int = 'y'\n"}
    repo = make_repo({**broken, ".pre-commit-config.yaml": HOOK})
    result = await MypyGate(process_sandbox, timeout_s=120).check(repo)
    assert not result.passed
    assert [(f.file, f.line) for f in result.findings] == [("src/pkg/more.py", 1)]


async def test_without_a_hook_mypys_stop_is_said_in_words(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    """Its blocking error was 300 characters of raw JSON, said twice on the console."""
    repo = make_repo(PLUGGY_SHAPE)
    result = await MypyGate(process_sandbox, timeout_s=120).check(repo)
    assert not result.passed
    assert result.summary.startswith("mypy failed (exit 2): docs/examples/"), result.summary
    assert 'setup.py: Duplicate module named "setup"' in result.summary
    assert "{" not in result.summary


def test_hook_and_config_excludes_are_kept_and_bad_patterns_ignored(tmp_path: Path) -> None:
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(
        "exclude: ^vendor/\nrepos:\n- repo: local\n  hooks:\n"
        "  - id: mypy\n    files: (?x)^src/\n    exclude: _pb2\\.py$\n"
    )
    excludes = pre_commit_mypy_excludes(tmp_path)
    assert excludes == ("(?x)^(?!.*(?:^src/))(?!.*/$)", r"_pb2\.py$", "^vendor/")
    config.write_text("repos:\n- repo: local\n  hooks:\n  - id: mypy\n    files: ^(src/\n")
    assert pre_commit_mypy_excludes(tmp_path) == ()


TOX_MYPY = "[tox]\nenvlist = py\n\n[testenv:typing]\ndeps = mypy\ncommands =\n    mypy src\n"


@pytest.mark.parametrize(
    ("files", "said"),
    [
        ({".pre-commit-config.yaml": HOOK}, "its pre-commit mypy hook (.pre-commit-config.yaml)"),
        ({"tox.ini": TOX_MYPY}, "tox.ini"),
        ({"tox.ini": "[testenv]\ncommands = python -m mypy -p pkg\n"}, "tox.ini"),
        ({"noxfile.py": "def typing(session):\n    session.run('mypy', 'src')\n"}, "noxfile.py"),
        ({"tox.ini": "[testenv]\ndeps =\n    mypy\n    pytest\ncommands = pytest\n"}, ""),
        ({"tox.ini": "[testenv]\ncommands = pytest --mypy-ini-file=x\n"}, ""),
    ],
    ids=["pre-commit", "tox", "tox-python-m", "nox", "tox-deps-only", "tox-no-mypy"],
)
def test_where_a_repository_runs_mypy_without_configuring_it(
    tmp_path: Path, files: dict[str, str], said: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert runs_mypy(tmp_path) == said


async def test_mypy_run_by_tox_alone_turns_the_types_gate_on(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    """No [mypy] anywhere, `mypy src` in tox: the project's CI fails a type error, and the
    types gate was off, so a task's type error merged."""
    files = {
        "pyproject.toml": '[project]\nname = "pkg"\n',
        "src/pkg/__init__.py": "X: int = 'x'\n",
    }
    plain = make_repo(files)
    assert "types" not in detected_gates(plain, GatesConfig(), process_sandbox)[0]
    assert "types gate is off" in " ".join(detect_gates(plain))
    repo = make_repo({**files, "tox.ini": TOX_MYPY})
    gates, _ = detected_gates(repo, GatesConfig(), process_sandbox)
    result = await gates["types"].check(repo)
    assert not result.passed
    assert [(f.file, f.line) for f in result.findings] == [("src/pkg/__init__.py", 1)]
    assert "# mypy runs in tox.ini, so the types gate runs too." in detect_gates(repo)


TOX_SHAPE = {
    "pyproject.toml": '[project]\nname = "pkg"\n',
    "tox.ini": TOX_MYPY,
    "src/pkg/__init__.py": "def add(a: int, b: int) -> int:\n    return a + b\n",
    "docs/examples/one/setup.py": "X: int = 1\n",
    "docs/examples/two/setup.py": "X: int = 'not checked by the project'\n",
}


async def test_the_targets_tox_runs_mypy_on_are_what_mypy_checks(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    """`mypy src` in tox, no [mypy]: over ".", mypy stopped at 'Duplicate module named
    "setup"' and the baseline was red; over src, green, and a type error there still fails."""
    repo = make_repo(TOX_SHAPE)
    gates, _ = detected_gates(repo, GatesConfig(), process_sandbox)
    result = await gates["types"].check(repo)
    assert result.passed, result.summary
    broken = make_repo({**TOX_SHAPE, "src/pkg/more.py": "Y: int = 'y'\n"})
    result = await gates["types"].check(broken)
    assert not result.passed
    assert [(f.file, f.line) for f in result.findings] == [("src/pkg/more.py", 1)]


@pytest.mark.parametrize(
    ("files", "targets"),
    [
        ({"tox.ini": TOX_MYPY}, ("src",)),
        (
            {
                "tox.ini": "[testenv:typing]\ncommands =\n"
                "    python -m mypy --config-file mypy.ini --strict {posargs} src/pkg \\\n"
                "        {toxinidir}/tests gone\n    mypy --python-version=3.9 src\n"
            },
            ("src/pkg", "tests", "src"),
        ),
        ({"tox.ini": "[testenv]\ncommands = mypy -p pkg {posargs:src}\n"}, ()),
        (
            {
                "noxfile.py": "def typing(session):\n"
                "    session.run('mypy', '-v', 'src', *session.posargs)\n"
            },
            ("src",),
        ),
        ({"noxfile.py": "def typing(session):\n    session.run('pytest', 'src')\n"}, ()),
    ],
    ids=["tox", "tox-options", "tox-package-beside-files", "nox", "nox-no-mypy"],
)
def test_the_paths_tox_and_nox_name_to_mypy(
    tmp_path: Path, files: dict[str, str], targets: tuple[str, ...]
) -> None:
    for folder in ("src/pkg", "tests"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "mypy.ini").write_text("")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert runner_mypy_targets(tmp_path) == targets
