"""A lint verdict from a ruff other than the one the repository's pre-commit pins says both
versions: filelock (ruff 0.16.3 pinned, clean under it) read "70 lint problem(s)" from ruff
0.17.6's new rules, as if its code had them."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from gates.python_tools import RuffGate
from gates.sandbox import ProcessSandbox

PRE_COMMIT = """repos:
  - repo: https://github.com/astral-sh/ruff-pre-commit
    rev: "v{rev}"
    hooks:
      - id: ruff-check
"""


def _repo(root: Path, rev: str, code: str) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.ruff.lint]\nselect = ["F"]\n')
    (root / ".pre-commit-config.yaml").write_text(PRE_COMMIT.format(rev=rev))
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "core.py").write_text(code)
    return root


async def test_a_red_verdict_names_the_ruff_that_ran_and_the_one_pinned(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    running = metadata.version("ruff")
    other = _repo(tmp_path / "other", "0.0.1", "import os\n")
    result = await RuffGate(process_sandbox).check(other)
    assert not result.passed
    assert result.summary == (
        f"1 lint problem(s) (ruff {running}; the repository's pre-commit pins 0.0.1: "
        "rules newer than that may be among these)"
    ), result.summary

    same = await RuffGate(process_sandbox).check(_repo(tmp_path / "same", running, "import os\n"))
    assert same.summary == "1 lint problem(s)", same.summary
    clean = await RuffGate(process_sandbox).check(_repo(tmp_path / "clean", "0.0.1", "X = 1\n"))
    assert clean.passed and clean.summary == "clean", clean.summary
