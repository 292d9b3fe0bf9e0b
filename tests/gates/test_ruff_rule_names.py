"""A ruff rule that has a name and no code is named by it, not called a syntax error:
filelock's lint findings from ruff 0.17's codeless rules read 'syntax Avoid using
`autouse=True` in `pytest.fixture` decorators'."""

from __future__ import annotations

import json
from pathlib import Path

from engine.protocols import CommandResult
from gates.python_tools import RuffGate
from gates.sandbox import ProcessSandbox


def _diagnostic(root: Path, code: str | None, name: str | None, message: str) -> dict[str, object]:
    """One item of ``ruff check --output-format json`` as ruff 0.17 writes it."""
    return {
        "code": code,
        "name": name,
        "message": message,
        "filename": str(root / "tests" / "conftest.py"),
        "location": {"row": 34, "column": 17},
    }


def test_a_codeless_rule_is_named_by_its_name(tmp_path: Path) -> None:
    items = [
        _diagnostic(tmp_path, None, "pytest-fixture-autouse", "Avoid using `autouse=True`"),
        _diagnostic(tmp_path, "invalid-syntax", "invalid-syntax", "Expected an expression"),
        _diagnostic(tmp_path, None, None, "Unexpected token"),
    ]
    result = CommandResult(("ruff", "check"), 1, json.dumps(items), 0.1)
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        parsed = RuffGate(sandbox).parse(result, tmp_path)
    finally:
        sandbox.close()
    assert [(f.file, f.line, f.message) for f in parsed.findings] == [
        ("tests/conftest.py", 34, "pytest-fixture-autouse Avoid using `autouse=True`"),
        ("tests/conftest.py", 34, "invalid-syntax Expected an expression"),
        ("tests/conftest.py", 34, "syntax Unexpected token"),
    ]
