"""``ruff format --check`` for a repository that formats its code with ruff.

python-dotenv's lint (its tox ``lint`` env, its pre-commit hooks) runs ``ruff check`` and
``ruff format --check``; the lint gate ran only the first, so a task whose code ruff would
reformat passed every gate and merged, and the project's own CI went red on it. Where the
repository says it formats with ruff (:func:`formats_with_ruff`), the lint gate also asks
ruff's formatter, each file it would reformat a finding (``gates.python_tools.RuffGate``).
A repository that never chose ruff's formatter is not held to it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from engine.beneath import read_text_beneath
from engine.protocols import CommandResult, Finding, GateResult
from gates.makefile_commands import makefile_commands
from gates.toml_files import read_toml
from gates.tool_gate import Parsed, ToolGate, ToolOutputError, extract_json, relative
from gates.tox_config import tox_commands

UNFORMATTED = "ruff format would reformat this file (the repository formats with ruff format)"
"""A finding's message: the same for every file, so the baseline compares files."""

_HOOK = re.compile(r"^\s*-?\s*id:\s*['\"]?ruff-format\b", re.MULTILINE)
"""ruff's pre-commit hook for its formatter (``- id: ruff-format``)."""
_COMMAND = re.compile(r"\bruff\s+format\b")
"""``ruff format`` in a command a file runs (nox, just, CI, a pyproject script)."""
COMMAND_FILES = (".pre-commit-config.yaml", "noxfile.py", "justfile")
"""Files read as text for :data:`_HOOK` or :data:`_COMMAND`; tox's configuration and the
Makefile are read as their tools read them (``gates.tox_config``,
``gates.makefile_commands``), pyproject.toml's scripts as its TOML strings."""


def formats_with_ruff(tree: Path) -> bool:
    """Whether ``tree``'s top says its code is formatted with ruff: its pre-commit
    ``ruff-format`` hook; ``ruff format`` run by a command of its tox (wherever tox reads
    it: tox.ini, setup.cfg, pyproject.toml, tox.toml), of its Makefile's recipes, by nox,
    just, a pyproject script (hatch, pdm, poe) or CI (``.github/workflows``); or a formatter
    table in its ruff configuration (pyproject's ``[tool.ruff.format]``, ``ruff.toml``'s
    ``[format]``). A file that only mentions ruff's formatter (a comment) does not say so."""
    if any(_runs_ruff_format(words) for words in tox_commands(tree).commands):
        return True
    if any(_runs_ruff_format(words) for words in makefile_commands(tree)[1]):
        return True
    workflows = tree / ".github" / "workflows"
    try:
        ci = sorted(p for p in workflows.iterdir() if p.suffix in (".yml", ".yaml"))
    except OSError:
        ci = []
    for path in [*(tree / name for name in COMMAND_FILES), *ci]:
        try:
            text = read_text_beneath(tree, path)  # never through a link out of the tree
        except (OSError, ValueError):  # LeavesRoot and UnicodeDecodeError are ValueErrors
            continue
        if _HOOK.search(text) or _COMMAND.search(text):
            return True
    pyproject = read_toml(tree / "pyproject.toml")
    tool = pyproject.get("tool")
    if isinstance(tool, dict) and any(
        _COMMAND.search(text)
        for name, table in tool.items()
        if name != "tox"  # read as tox reads it, above
        for text in _strings(table)
    ):
        return True
    return _table(pyproject, ("tool", "ruff", "format")) or any(
        _table(read_toml(tree / name), ("format",)) for name in ("ruff.toml", ".ruff.toml")
    )


def _runs_ruff_format(words: Sequence[str]) -> bool:
    """Whether a command's words run ruff's formatter (``ruff format``, ``.venv/bin/ruff
    format``, ``python -m ruff format``, ``uv run ruff format``)."""
    return any(
        (word == "ruff" or word.endswith("/ruff")) and then == "format"
        for word, then in itertools.pairwise(words)
    )


def _table(data: object, keys: Sequence[str]) -> bool:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return isinstance(data, dict)


def _strings(value: object) -> Iterator[str]:
    """Every string in a TOML value, its tables' and arrays' too."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


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
