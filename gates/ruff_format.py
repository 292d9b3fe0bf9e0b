"""``ruff format --check`` for a repository that formats its code with ruff.

python-dotenv's lint (its tox ``lint`` env, its pre-commit hooks) runs ``ruff check`` and
``ruff format --check``; the lint gate ran only the first, so a task whose code ruff would
reformat passed every gate and merged, and the project's own CI went red on it. Where the
repository says it formats with ruff (:func:`formats_with_ruff`), the lint gate also asks
ruff's formatter, each file it would reformat a finding (``gates.python_tools.RuffGate``).
A repository that never chose ruff's formatter is not held to it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path

from engine.protocols import CommandResult, Finding, GateResult
from gates.tool_gate import Parsed, ToolGate, ToolOutputError, extract_json, relative

UNFORMATTED = "ruff format would reformat this file (the repository formats with ruff format)"
"""A finding's message: the same for every file, so the baseline compares files."""

_HOOK = re.compile(r"^\s*-?\s*id:\s*['\"]?ruff-format\b", re.MULTILINE)
"""ruff's pre-commit hook for its formatter (``- id: ruff-format``)."""
_COMMAND = re.compile(r"\bruff\s+format\b")
"""``ruff format`` in a command a file runs (tox, make, nox, just, hatch scripts, CI)."""
COMMAND_FILES = (
    ".pre-commit-config.yaml",
    "tox.ini",
    "Makefile",
    "noxfile.py",
    "justfile",
    "pyproject.toml",
    "setup.cfg",
)


def formats_with_ruff(tree: Path) -> bool:
    """Whether ``tree``'s top says its code is formatted with ruff: its pre-commit
    ``ruff-format`` hook, ``ruff format`` run by its tox, make, nox, just, hatch or CI
    (``.github/workflows``), or a formatter table in its ruff configuration (pyproject's
    ``[tool.ruff.format]``, ``ruff.toml``'s ``[format]``)."""
    workflows = tree / ".github" / "workflows"
    try:
        ci = sorted(p for p in workflows.iterdir() if p.suffix in (".yml", ".yaml"))
    except OSError:
        ci = []
    for path in [*(tree / name for name in COMMAND_FILES), *ci]:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if _HOOK.search(text) or _COMMAND.search(text):
            return True
    for name, keys in (("pyproject.toml", ("tool", "ruff", "format")), ("ruff.toml", ("format",))):
        if _has_table(tree / name, keys) or (
            name == "ruff.toml" and _has_table(tree / ".ruff.toml", keys)
        ):
            return True
    return False


def _has_table(path: Path, keys: Sequence[str]) -> bool:
    try:
        data: object = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return isinstance(data, dict)


class RuffFormatCheck(ToolGate):
    """``ruff format --check --output-format json``: each file ruff would reformat, with
    the repository's own formatter settings; a file ruff cannot parse is left to ``ruff
    check``, which reports it."""

    tool = "ruff"
    ok_codes = frozenset({0, 1, 2})  # 1: would reformat; 2: a file it could not parse

    def __init__(self, skipped: Sequence[str], *, name: str = "lint", **kw: object) -> None:
        super().__init__(name=name, **kw)  # type: ignore[arg-type]
        self.skipped = tuple(skipped)

    def argv(self, workspace: Path) -> list[str]:
        return [
            *("ruff", "format", "--check", "--no-cache", "--output-format", "json"),
            *("--extend-exclude", ",".join(self.skipped), "."),
        ]

    def parse(self, result: CommandResult, workspace: Path) -> Parsed:
        data = extract_json(result.output)
        if not isinstance(data, list):
            raise ToolOutputError("expected a JSON list of files to reformat")
        files = [item for item in data if item.get("code") == "unformatted"]
        findings = [
            Finding(
                message=UNFORMATTED,
                file=relative(str(item.get("filename", "")), workspace) or None,
                line=(item.get("location") or {}).get("row"),
            )
            for item in files
        ]
        return Parsed(findings, summary=f"{len(findings)} file(s) ruff format would reformat")


def with_format(lint: GateResult, formatted: GateResult) -> GateResult:
    """The lint gate's verdict with the formatter's: red when either is, the findings of
    both, the counts added, both said."""
    if formatted.passed:
        return lint
    counts = dict(lint.counts)
    for key, value in formatted.counts.items():
        counts[key] = counts.get(key, 0) + value
    summary = (
        formatted.summary if lint.summary == "clean" else f"{lint.summary}; {formatted.summary}"
    )
    return lint.model_copy(
        update={
            "passed": False,
            "summary": summary,
            "findings": [*lint.findings, *formatted.findings],
            "counts": counts,
            "duration_s": lint.duration_s + formatted.duration_s,
            "output_tail": formatted.output_tail if lint.passed else lint.output_tail,
        }
    )
