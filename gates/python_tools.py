"""The Python code scanners: lint (ruff), security (bandit) and dead code (vulture).

Each runs the real tool from shopfloor's environment (the sandbox puts the interpreter's
directory first on PATH) and reads its machine-readable output — ruff and bandit JSON,
vulture's ``file:line: message (NN% confidence)`` — into Findings that point at a file and a
line, so an engineer's retry sees exactly where to look. Each reads the repository's own
settings for its tool (``[tool.ruff]``, ``[tool.bandit]``, ``[tool.vulture]``). The types
gate (mypy) is ``gates.mypy_gate``.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.protocols import CommandResult, Finding, GateResult, Sandbox
from gates.changes import ChangeScanGate
from gates.repo_shape import SKIPPED_DIRS
from gates.ruff_format import RuffFormatCheck, formats_with_ruff, with_format
from gates.ruff_pin import pinned_ruff, version_note
from gates.toml_files import read_toml
from gates.tool_gate import (
    Parsed,
    ToolGate,
    ToolOutputError,
    extract_json,
    relative,
)
from gates.vulture_noise import NoiseFilter

_SEVERITY = {"LOW": 1, "MEDIUM": 2, "HIGH": 3, "UNDEFINED": 0}

CLASSIC_RUFF_RULES = ("E4", "E7", "E9", "F")
"""The rules ruff selected by default until its defaults grew (pyflakes and the pycodestyle
errors no formatter settles): what a repository that configures no ruff is linted with."""
RUFF_CONFIG_FILES = ("ruff.toml", ".ruff.toml")
RUFF_SEARCH_DEPTH = 4
"""How deep :func:`ruff_configured` looks (a monorepo's ``services/api/pyproject.toml``)."""


def ruff_configured(tree: Path) -> bool:
    """True when ``tree`` configures ruff anywhere (``ruff.toml``, ``.ruff.toml``, a
    pyproject.toml with ``[tool.ruff]``) down to :data:`RUFF_SEARCH_DEPTH`: a ``--select`` on
    the command line would override a monorepo project's own selection."""
    for folder, dirs, files in os.walk(tree):
        rel = os.path.relpath(folder, tree)
        depth = 0 if rel == "." else rel.count(os.sep) + 1
        dirs[:] = [
            d
            for d in dirs
            if depth + 1 < RUFF_SEARCH_DEPTH and not d.startswith(".") and d not in SKIPPED_DIRS
        ]
        if any(name in files for name in RUFF_CONFIG_FILES):
            return True
        if "pyproject.toml" in files and _tool_settings(Path(folder), "ruff", tree):
            return True
    return False


class RuffGate(ToolGate):
    """``ruff check --output-format json``: the repo's own ruff config, or the classic rules;
    and ``ruff format --check`` where the repository formats with ruff.

    A repository that configures no ruff is checked with :data:`CLASSIC_RUFF_RULES`, and the
    summary says so: ruff's own defaults now enable some 400 rules (pyupgrade, isort, the
    pylint ports), and a repository that never chose them got 1,512 findings (UP045, I001)
    that no attempt of its tasks could clear.

    Always ``--no-fix``: a repository whose config says ``fix = true`` (click's does) had its
    tree rewritten by the gate judging it, and the findings fixed away were not reported.
    """

    tool = "ruff"
    report_option = "--output-file"

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        name: str = "lint",
        select: Sequence[str] = (),
        timeout_s: float = 120.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(sandbox, name=name, timeout_s=timeout_s, env=env)
        self.select = tuple(select)

    def settings(self) -> Sequence[object]:
        # cached verdicts of the fixing gate, of ruff's defaults and without the formatter
        # are stale
        return [list(self.select), "no-fix", "classic", "format"]

    async def check(self, workspace: Path) -> GateResult:
        """``ruff check``, and ``ruff format --check`` where the repository formats with
        ruff (``gates.ruff_format``)."""
        started = time.monotonic()
        argv, formats = await asyncio.to_thread(self._plan, workspace)
        lint = await self._with_version_note(
            workspace, await self.run_tool(workspace, argv, started)
        )
        if not formats:
            return lint
        formatter = RuffFormatCheck(
            SKIPPED_DIRS,
            sandbox=self.sandbox,
            name=self.name,
            timeout_s=self.timeout_s,
            env=self.env,
        )
        return with_format(lint, await formatter.check(workspace))

    def _plan(self, workspace: Path) -> tuple[list[str], bool]:
        """The ``ruff check`` command and whether the repository formats with ruff: both
        read the tree (its ruff settings down to :data:`RUFF_SEARCH_DEPTH`, its tox, make,
        CI files), in a thread, since each attempt's gates run on the loop that every
        agent, the merge queue and the TUI share (a large pyproject.toml held it still)."""
        return self.argv(workspace), formats_with_ruff(workspace)

    async def _with_version_note(self, workspace: Path, lint: GateResult) -> GateResult:
        """``lint`` with the ruff that ran and the one the repository pins named, when its
        rules found problems and the two differ (``gates.ruff_pin``)."""
        pinned = None if lint.passed else await asyncio.to_thread(pinned_ruff, workspace)
        if pinned is None:
            return lint
        said = await self.sandbox.run(["ruff", "--version"], workspace, env=self.env or None)
        note = version_note(pinned, said.output)
        return lint.model_copy(update={"summary": f"{lint.summary} ({note})"}) if note else lint

    def _select(self, workspace: Path) -> tuple[str, ...]:
        """The rules given on the command line: the gate's own, else the classic ones for a
        repository with no ruff configuration, else none (the repository's choice)."""
        if self.select:
            return self.select
        return () if ruff_configured(workspace) else CLASSIC_RUFF_RULES

    def argv(self, workspace: Path) -> list[str]:
        argv = ["ruff", "check", "--output-format", "json", "--no-cache", "--no-fix", "--quiet"]
        select = self._select(workspace)
        if select:
            argv += ["--select", ",".join(select)]
        return [*argv, "--extend-exclude", ",".join(SKIPPED_DIRS), "."]

    def parse(self, result: CommandResult, workspace: Path) -> Parsed:
        data = extract_json(result.output)
        if not isinstance(data, list):
            raise ToolOutputError("expected a JSON list of diagnostics")
        findings = []
        for item in data:
            location = item.get("location") or {}
            # ruff 0.17's newest rules have a name and no code ("pytest-fixture-autouse")
            code = item.get("code") or item.get("name") or "syntax"
            findings.append(
                Finding(
                    message=f"{code} {item.get('message', '')}".strip(),
                    file=relative(str(item.get("filename", "")), workspace) or None,
                    line=location.get("row"),
                )
            )
        summary = f"{len(findings)} lint problem(s)" if findings else "clean"
        rules = ",".join(CLASSIC_RUFF_RULES)
        if not self.select and "--select" in result.argv:  # as argv chose, not read again
            summary += f" (ruff's classic rules {rules}: the repository configures no ruff)"
        return Parsed(findings, summary=summary)


def _tool_settings(folder: Path, tool: str, root: Path | None = None) -> dict[str, Any]:
    """The ``[tool.TOOL]`` table of ``folder``'s pyproject.toml (empty if none), read
    within ``root`` (the workspace; ``folder`` itself unless given)."""
    tables = read_toml(folder / "pyproject.toml", root=root).get("tool")
    section = tables.get(tool) if isinstance(tables, dict) else None
    return section if isinstance(section, dict) else {}


class BanditGate(ChangeScanGate):
    """``bandit -f json``: issues at or above the severity and confidence floors block.

    Bandit judges each module alone: a task's gate (``on_changes()``) reads the Python files
    the task changed (``gates.changes``), the final verification the whole tree.
    """

    tool = "bandit"
    report_option = "-o"

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        name: str = "security",
        min_severity: str = "MEDIUM",
        min_confidence: str = "MEDIUM",
        exclude: Sequence[str] = ("tests", "test"),
        skip: Sequence[str] = (),
        timeout_s: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(sandbox, name=name, timeout_s=timeout_s, env=env)
        for label, value in (("min_severity", min_severity), ("min_confidence", min_confidence)):
            if value.upper() not in ("LOW", "MEDIUM", "HIGH"):
                raise ValueError(f"gate {name!r}: {label} must be low, medium or high")
        self.min_severity = min_severity.upper()
        self.min_confidence = min_confidence.upper()
        self.exclude = tuple(exclude)
        self.skip = tuple(skip)

    def settings(self) -> Sequence[object]:
        return [
            self.min_severity,
            self.min_confidence,
            list(self.exclude),
            list(self.skip),
            self.since,
        ]

    def wants(self, path: str) -> bool:
        # What ``-r .`` reads (bandit's own *.py,*.pyw); given by name, any file is parsed.
        return path.endswith((".py", ".pyw"))

    def argv_for(self, workspace: Path, files: Sequence[str] | None) -> list[str]:
        # Named files as "./path", as -r . names them: the -x paths match them alike.
        excluded = [f"./{d}" for d in (*SKIPPED_DIRS, *self.exclude)]
        targets = ["-r", "."] if files is None else [f"./{name}" for name in files]
        argv = ["bandit", "-q", "-f", "json", *targets, "-x", ",".join(excluded)]
        if _tool_settings(workspace, "bandit"):  # bandit reads pyproject.toml only when told
            argv += ["-c", "pyproject.toml"]
        if self.skip:
            argv += ["--skip", ",".join(self.skip)]
        return argv

    def parse(self, result: CommandResult, workspace: Path) -> Parsed:
        data = extract_json(result.output)
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise ToolOutputError("expected a JSON object with a 'results' list")
        blocking: list[Finding] = []
        advisory: list[Finding] = []
        for item in data["results"]:
            severity = str(item.get("issue_severity", "UNDEFINED")).upper()
            confidence = str(item.get("issue_confidence", "UNDEFINED")).upper()
            finding = Finding(
                message=f"{item.get('test_id', '?')} ({severity.lower()} severity, "
                f"{confidence.lower()} confidence): {item.get('issue_text', '')}",
                file=relative(str(item.get("filename", "")), workspace) or None,
                line=item.get("line_number"),
                detail=str(item.get("code", ""))[:1000],
            )
            severe = _SEVERITY.get(severity, 0) >= _SEVERITY[self.min_severity]
            sure = _SEVERITY.get(confidence, 0) >= _SEVERITY[self.min_confidence]
            (blocking if severe and sure else advisory).append(finding)
        errors = data.get("errors") or []
        blocking.extend(
            Finding(
                message=f"bandit could not scan: {error.get('reason', 'unknown error')}",
                file=relative(str(error.get("filename", "")), workspace) or None,
            )
            for error in errors
        )
        summary = (
            f"{len(blocking)} security issue(s) at or above {self.min_severity.lower()}"
            if blocking
            else ""
        )
        return Parsed(
            [*blocking, *advisory],
            counts={"advisory": len(advisory)},
            blocking=len(blocking),
            summary=summary,
        )


_VULTURE = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<message>.+?) \((?P<conf>\d+)% confidence")


class VultureGate(ToolGate):
    """``vulture``: code nothing uses, at or above ``min_confidence`` percent."""

    tool = "vulture"
    ok_codes = frozenset({0, 3})  # 3: dead code found

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        name: str = "dead-code",
        min_confidence: int = 80,
        timeout_s: float = 120.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(sandbox, name=name, timeout_s=timeout_s, env=env)
        if not 0 <= min_confidence <= 100:
            raise ValueError(f"gate {name!r}: min_confidence must be 0-100, got {min_confidence}")
        self.min_confidence = min_confidence

    def settings(self) -> Sequence[object]:
        return [self.min_confidence]

    def argv(self, workspace: Path) -> list[str]:
        """Vulture as the repository configures it in ``[tool.vulture]``, tool folders left
        out: given on the command line, an option replaces the configuration's, so the
        folders a repository excludes (generated code, say) were read and their unused names
        reported; and ``.`` in place of its ``paths`` read what it keeps out."""
        own = _tool_settings(workspace, "vulture")
        theirs = own.get("exclude")
        excludes = [f"*/{d}/*" for d in SKIPPED_DIRS]
        if isinstance(theirs, list):
            excludes += [str(pattern) for pattern in theirs]
        argv = ["vulture"] if own.get("paths") else ["vulture", "."]
        if "min_confidence" not in own:
            argv += ["--min-confidence", str(self.min_confidence)]
        return [*argv, "--exclude", ",".join(excludes)]

    def parse(self, result: CommandResult, workspace: Path) -> Parsed:
        findings = []
        read = 0
        noise = NoiseFilter(workspace)
        for line in result.output.splitlines():
            match = _VULTURE.match(line.strip())
            if match is None:
                continue
            read += 1
            file, number = relative(match.group("file"), workspace), int(match.group("line"))
            if noise.is_noise(file, number, match.group("message")):
                continue  # an unused parameter, an import a string cast() uses
            findings.append(
                Finding(
                    message=f"{match.group('message')} ({match.group('conf')}% confidence)",
                    file=file,
                    line=number,
                )
            )
        if result.returncode == 3 and not read:
            raise ToolOutputError("vulture reported dead code but no line could be read")
        return Parsed(findings, summary=f"{len(findings)} unused item(s)" if findings else "")
