"""The lint gate holds a repository that formats with ruff to ruff's formatter, and only such.

python-dotenv runs ``ruff check`` and ``ruff format --check`` in its tox lint env and its
pre-commit hooks; the lint gate ran the first alone, so a task's code that ruff would
reformat merged green and the project's CI went red on it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from loop_pauses import pauses

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
MAKE_RUFF = "RUFF = .venv/bin/ruff\nlint:\n\t$(RUFF) check . && $(RUFF) format --check .\n"
TOX_TOML = '[env.lint]\ncommands = [["ruff", "check", "."], ["ruff", "format", "--check", "."]]\n'


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


async def test_a_tox_toml_lint_env_running_ruff_format_gets_the_format_check(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    repo = make_repo({"tox.toml": TOX_TOML, "ruff.toml": RUFF, "src/pkg/b.py": CRAMPED})
    result = await RuffGate(process_sandbox).check(repo)
    assert not result.passed
    assert [(f.file, f.message) for f in result.findings] == [("src/pkg/b.py", UNFORMATTED)]


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
        # tox wherever tox reads it (gates.tox_config), its commands only
        ({"tox.toml": TOX_TOML}, True),
        ({"pyproject.toml": TOX_TOML.replace("[env.", "[tool.tox.env.")}, True),
        ({"setup.cfg": "[tox:tox]\n[testenv:lint]\ncommands = ruff format --check .\n"}, True),
        ({"tox.toml": TOX_TOML.replace(', ["ruff", "format", "--check", "."]', "")}, False),
        (
            {"tox.ini": "[testenv:lint]\n# ruff format: left to editors\ncommands = ruff check\n"},
            False,
        ),
        # a Makefile's recipes as make runs them (gates.makefile_commands)
        ({"Makefile": MAKE_RUFF}, True),
        ({"Makefile": "# ruff format runs on pre-commit.ci\nlint:\n\truff check .\n"}, False),
        # pyproject's scripts (hatch, pdm, poe): its strings, not its comments
        (
            {"pyproject.toml": '[tool.hatch.envs.lint.scripts]\nstyle = "ruff format --check ."\n'},
            True,
        ),
        (
            {"pyproject.toml": "[tool.ruff]\n# black formats, not ruff format\nline-length = 99\n"},
            False,
        ),
    ],
)
def test_where_a_repository_says_it_formats_with_ruff(
    make_repo: MakeRepo, files: dict[str, str], formats: bool
) -> None:
    assert formats_with_ruff(make_repo(files)) is formats


async def test_the_lint_gate_reads_the_repository_off_the_event_loop(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    """Whether it formats with ruff and how it configures ruff, read from each attempt's
    worktree (a large pyproject.toml parsed again and again): on the loop, they paused every
    other agent, the merge queue and the TUI for most of the check (a ratio over 0.5 here);
    in a thread, the loop ticks on (about 0.06)."""
    keys = "".join(f'k{i} = "value {i}"\n' for i in range(8000))
    repo = make_repo({"pyproject.toml": f"[tool.other]\n{keys}", "src/pkg/a.py": TIDY})
    took: list[float] = []

    async def check() -> None:
        started = time.monotonic()
        result = await RuffGate(process_sandbox).check(repo)
        took.append(time.monotonic() - started)
        assert result.passed and "classic rules" in result.summary, result.summary

    longest = await pauses(check, 3)
    ratios = [pause / call_s for pause, call_s in zip(longest, took, strict=True)]
    assert statistics.median(ratios) < 0.25, [f"{r:.2f}" for r in ratios]
