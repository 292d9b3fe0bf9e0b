"""The types gate says which of its errors are imports its Python has not installed."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from gates.mypy_gate import MypyGate
from gates.sandbox import ProcessSandbox

MakeRepo = Callable[[dict[str, str]], Path]


async def test_imports_of_modules_not_installed_are_named_in_the_summary(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    """inflect on a Python without jaraco and typeguard: 8 type errors, most of them
    'Cannot find implementation or library stub for module named "jaraco.functools"', were
    said as the code's. The project's own missing module stays the code's."""
    repo = make_repo(
        {
            "pyproject.toml": "[tool.mypy]\nstrict = false\n",
            "src/pkg/__init__.py": "",
            "src/pkg/core.py": "import jaraco_not_here.functools\n"
            "import typeguard_not_here\n"
            "import pkg.gone\n\n"
            "X: int = 'x'\n",
        }
    )
    result = await MypyGate(process_sandbox).check(repo)
    assert not result.passed
    assert result.summary == (
        f"5 type error(s); 3 of them: modules not installed for {sys.executable}: "
        "'jaraco_not_here', 'typeguard_not_here'"
    ), result.summary
    gone = [f for f in result.findings if '"pkg.gone"' in f.message]
    assert len(gone) == 1  # an error, not counted as a dependency
