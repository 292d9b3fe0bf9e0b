"""The lint gate holds a repository that formats with ruff to ruff's formatter, and only such.

python-dotenv runs ``ruff check`` and ``ruff format --check`` in its tox lint env and its
pre-commit hooks; the lint gate ran the first alone, so a task's code that ruff would
reformat merged green and the project's CI went red on it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.recon import Baseline, BaselineGate
from gates.python_tools import RuffGate
from gates.ruff_format import UNFORMATTED, formats_with_ruff
from gates.sandbox import ProcessSandbox

MakeRepo = Callable[[dict[str, str]], Path]

HOOKS = """repos:
  - repo: https://github.com/astral-sh/ruff-pre-commit
    rev: v0.12.0
    hooks:
      - id: ruff
      - id: ruff-format
"""
RUFF = '[lint]\nselect = ["E4", "E7", "E9", "F"]\n'
TIDY = 'VALUES = {"a": 1}\n'
CRAMPED = 'VALUES = {"a":1}\n'


async def test_code_ruff_would_reformat_fails_lint_where_the_repo_formats_with_ruff(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    files = {".pre-commit-config.yaml": HOOKS, "ruff.toml": RUFF, "src/pkg/a.py": TIDY}
    tidy = await RuffGate(process_sandbox).check(make_repo(files))
    assert tidy.passed and tidy.summary == "clean", tidy.summary

    repo = make_repo({**files, "src/pkg/b.py": CRAMPED})
    result = await RuffGate(process_sandbox).check(repo)
    assert not result.passed
    assert result.summary == "1 file(s) ruff format would reformat"
    assert [(f.file, f.message) for f in result.findings] == [("src/pkg/b.py", UNFORMATTED)]
    assert (repo / "src/pkg/b.py").read_text() == CRAMPED  # judged, never rewritten

    # Red at baseline for one file, a task's new unformatted file is new; the old one is not.
    task = make_repo({**files, "src/pkg/b.py": CRAMPED, "src/pkg/c.py": CRAMPED})
    guarded = await BaselineGate(RuffGate(process_sandbox), Baseline((result,))).check(task)
    assert not guarded.passed
    assert [f.file for f in guarded.findings if f.message == UNFORMATTED] == ["src/pkg/c.py"]


async def test_a_repo_that_never_chose_ruffs_formatter_is_not_held_to_it(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    repo = make_repo({"ruff.toml": RUFF, "src/pkg/b.py": CRAMPED})
    result = await RuffGate(process_sandbox).check(repo)
    assert result.passed and result.summary == "clean", result.summary


@pytest.mark.parametrize(
    ("files", "formats"),
    [
        ({".pre-commit-config.yaml": HOOKS}, True),
        ({"tox.ini": "[testenv:lint]\ncommands =\n    ruff format --check src tests\n"}, True),
        ({"Makefile": "fmt:\n\truff format src tests\n"}, True),
        ({".github/workflows/ci.yml": "steps:\n  - run: ruff format --check .\n"}, True),
        ({"pyproject.toml": '[tool.ruff.format]\nquote-style = "single"\n'}, True),
        ({"ruff.toml": '[format]\nquote-style = "single"\n'}, True),
        ({"pyproject.toml": "[tool.ruff]\nline-length = 100\n", "ruff.toml": RUFF}, False),
        ({".pre-commit-config.yaml": HOOKS.replace("      - id: ruff-format\n", "")}, False),
        ({"tox.ini": "[testenv]\ncommands = black --check .\n"}, False),
    ],
)
def test_where_a_repository_says_it_formats_with_ruff(
    make_repo: MakeRepo, files: dict[str, str], formats: bool
) -> None:
    assert formats_with_ruff(make_repo(files)) is formats
