"""The Python code gates: lint (ruff), types (mypy), security (bandit) and dead code (vulture).

Each runs the real tool from shopfloor's environment (the sandbox puts the interpreter's
directory first on PATH) and reads its machine-readable output — ruff and bandit JSON, mypy's
JSON lines, vulture's ``file:line: message (NN% confidence)`` — into Findings that point at a
file and a line, so an engineer's retry sees exactly where to look.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import sys
import time
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.protocols import CommandResult, Finding, GateResult, Sandbox
from gates.changes import ChangeScanGate
from gates.mypy_seed import MypySeeds, run_mypy
from gates.tool_gate import (
    MAX_FINDINGS,
    OUTPUT_TAIL_CHARS,
    Parsed,
    ToolGate,
    ToolOutputError,
    extract_json,
    fingerprint_of,
    relative,
)

SKIPPED_DIRS = (".git", ".venv", "venv", "node_modules", ".shopfloor", "build", "dist")
"""Directories no Python gate looks into."""

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
        if "pyproject.toml" in files and _tool_settings(Path(folder), "ruff"):
            return True
    return False


class RuffGate(ToolGate):
    """``ruff check --output-format json``: the repo's own ruff config, or the classic rules.

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
        # cached verdicts of the fixing gate, and of ruff's defaults, are stale
        return [list(self.select), "no-fix", "classic"]

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
            code = item.get("code") or "syntax"
            findings.append(
                Finding(
                    message=f"{code} {item.get('message', '')}".strip(),
                    file=relative(str(item.get("filename", "")), workspace) or None,
                    line=location.get("row"),
                )
            )
        summary = f"{len(findings)} lint problem(s)" if findings else "clean"
        if not self.select and self._select(workspace) == CLASSIC_RUFF_RULES:
            rules = ",".join(CLASSIC_RUFF_RULES)
            summary += f" (ruff's classic rules {rules}: the repository configures no ruff)"
        return Parsed(findings, summary=summary)


def _mypy_line(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class MypyGate(ToolGate):
    """``mypy --output json``: the repo's mypy configuration decides strictness.

    ``targets`` are passed on the command line; leave them empty when the repo's configuration
    names its own ``files``. ``projects`` maps folders of the workspace to their targets when
    mypy runs in each on its own (a monorepo whose projects each configure mypy); paths in
    the findings are then relative to the workspace.
    """

    tool = "mypy"

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        name: str = "types",
        targets: Sequence[str] = (".",),
        projects: Mapping[str, Sequence[str]] | None = None,
        timeout_s: float = 300.0,
        env: Mapping[str, str] | None = None,
        python_executable: str | None = None,
        pinned: Iterable[str] = (),
        seeds: MypySeeds | None = None,
    ) -> None:
        super().__init__(sandbox, name=name, timeout_s=timeout_s, env=env)
        self.seeds = seeds
        """Warm caches each run starts from (``gates.mypy_seed``); None: each starts cold."""
        self.publishes = False
        """Whether a finished run's cache becomes the newest seed (:meth:`publisher`)."""
        self.python_executable = python_executable
        """The project's interpreter, whose installed packages mypy reads (``None``: the
        Python mypy runs on, where the project's third-party imports are not installed)."""
        self.runs_on = python_executable or sys.executable
        """Whose installed packages mypy reads (``gates.cache`` keys on them)."""
        self.python_version = _target_version(python_executable)
        """The interpreter's ``X.Y``, which mypy checks against. Without it mypy took the
        version it runs on, shopfloor's: a 3.12 project's ``type`` statements and
        ``itertools.batched`` were type errors, and no attempt could pass."""
        self.pinned = frozenset(pinned)
        """Projects whose configuration sets ``python_version``: theirs wins (a command-line
        ``--python-version`` would override it)."""
        self.targets = tuple(targets)
        self.projects = {p: tuple(t) for p, t in (projects or {".": self.targets}).items()}

    def settings(self) -> Sequence[object]:
        projects = sorted((p, list(t)) for p, t in self.projects.items())
        return [projects, self.python_executable, self.python_version, sorted(self.pinned)]

    def publisher(self) -> MypyGate:
        """This gate, publishing its finished runs' caches as seeds: for the factory's own
        checkouts (merge candidates, the baseline), never an agent's worktree. Its verdicts
        are this gate's (same fingerprint: the gate cache shares them)."""
        twin = copy.copy(self)
        twin.publishes = True
        return twin

    def argv(self, workspace: Path) -> list[str]:
        return self._argv(self.projects.get(".", self.targets), ".")

    def _seed_key(self, project: str) -> str:
        return fingerprint_of(self.fingerprint(), project, mypy_version())

    async def _run(
        self, workspace: Path, project: str, targets: Sequence[str], timeout_s: float
    ) -> CommandResult:
        return await run_mypy(
            self.sandbox,
            self._argv(targets, project),
            workspace / project,
            workspace,
            timeout_s=timeout_s,
            env=self.env or None,
            seeds=self.seeds,
            key=self._seed_key(project),
            publish=self.publishes,
        )

    def _argv(self, targets: Sequence[str], project: str) -> list[str]:
        excludes = "|".join(re.escape(d) for d in SKIPPED_DIRS)
        version = self.python_version if project not in self.pinned else None
        return [
            "mypy",
            "--output",
            "json",
            "--no-error-summary",
            "--hide-error-context",
            "--exclude",
            f"(^|/)({excludes})/",
            *(("--python-executable", self.python_executable) if self.python_executable else ()),
            *(("--python-version", version) if version else ()),
            *targets,
        ]

    async def check(self, workspace: Path) -> GateResult:
        """mypy in the workspace, or in each project with its own settings; passed when
        every project is clean."""
        started = time.monotonic()
        if list(self.projects) == ["."]:
            result = await self._run(workspace, ".", self.projects["."], self.timeout_s)
            return self.judge(result, workspace, time.monotonic() - started)
        results: list[tuple[str, GateResult]] = []
        for project, targets in self.projects.items():
            folder = workspace / project
            if not folder.is_dir():
                continue  # the change removed it
            left = self.timeout_s - (time.monotonic() - started)
            if left <= 0:
                message = f"{project}: not run, the {self.timeout_s:g}s for mypy ran out"
                results.append((project, _failed(self.name, message)))
                continue
            begun = time.monotonic()
            result = await self._run(workspace, project, targets, left)
            judged = self.judge(result, folder, time.monotonic() - begun)
            results.append((project, _in_project(judged, project)))
        return _merged(self.name, results, time.monotonic() - started)

    def parse(self, result: CommandResult, workspace: Path) -> Parsed:
        findings: list[Finding] = []
        notes = 0
        for line in result.output.splitlines():
            item = _mypy_line(line.strip())
            if item is None:
                continue
            if item.get("severity") != "error":
                notes += 1
                continue
            code = f" [{item['code']}]" if item.get("code") else ""
            hint = str(item.get("hint") or "")
            findings.append(
                Finding(
                    message=f"{item.get('message', '')}{code}",
                    file=relative(str(item.get("file", "")), workspace) or None,
                    line=item.get("line"),
                    detail=hint,
                )
            )
        if result.returncode == 1 and not findings:
            raise ToolOutputError("mypy reported errors but printed none as JSON")
        summary = f"{len(findings)} type error(s)" if findings else ""
        return Parsed(findings, counts={"notes": notes}, summary=summary)


@functools.cache
def mypy_version() -> str:
    """The version of the mypy the types gate runs (shopfloor's own)."""
    from mypy.version import __version__  # shopfloor's own mypy, as run

    return __version__


_PYVENV_VERSION = re.compile(r"^\s*version(?:_info)?\s*=\s*(\d+)\.(\d+)", re.MULTILINE)
_VERSIONED_NAME = re.compile(r"python(\d+)\.(\d+)$")


def python_version_of(python: str) -> tuple[int, int] | None:
    """``(3, 12)`` for the interpreter ``python``, read without running it: from its
    virtualenv's ``pyvenv.cfg``, else from the versioned name its links lead to
    (``python3.12``: pyenv, uv, conda and system installs); None when neither says."""
    try:
        cfg = (Path(python).parent.parent / "pyvenv.cfg").read_text("utf-8", errors="replace")
    except OSError:
        cfg = ""
    found = _PYVENV_VERSION.search(cfg) or _VERSIONED_NAME.search(os.path.realpath(python))
    return (int(found[1]), int(found[2])) if found else None


def _target_version(python: str | None) -> str | None:
    """The ``--python-version`` for mypy to check code written for ``python``: None for its
    own interpreter, one of unknown version, or one older than mypy can target (it then
    refuses to run at all; its oldest target is the closest it can check)."""
    if python is None:
        return None
    version = python_version_of(python)
    if version is None or version == sys.version_info[:2]:
        return None
    from mypy.defaults import PYTHON3_VERSION_MIN  # shopfloor's own mypy, as run

    return "{}.{}".format(*max(version, PYTHON3_VERSION_MIN[:2]))


def _failed(gate: str, message: str) -> GateResult:
    return GateResult(gate=gate, passed=False, summary=message, findings=[Finding(message=message)])


def _in_project(result: GateResult, project: str) -> GateResult:
    """A project's result with its paths relative to the workspace (a finding with no file
    names the project in its message)."""

    def moved(finding: Finding) -> Finding:
        if finding.file is None:
            return finding.model_copy(update={"message": f"{project}: {finding.message}"})
        if Path(finding.file).is_absolute():
            return finding
        return finding.model_copy(update={"file": f"{project}/{finding.file}"})

    return result.model_copy(update={"findings": [moved(f) for f in result.findings]})


def _merged(gate: str, results: list[tuple[str, GateResult]], duration: float) -> GateResult:
    """One verdict over the projects: passed when each is. A project whose mypy failed
    outright counts no findings, yet its one finding blocks: it is counted so, or the
    baseline's comparison (``counts["blocking"]``) would cut off another project's last."""
    counts: dict[str, int] = {}
    for _, result in results:
        found = {"findings": len(result.findings), "blocking": len(result.findings)}
        for key, value in {**found, **result.counts}.items():
            counts[key] = counts.get(key, 0) + value
    tail = "\n".join(f"== {p}\n{r.output_tail}" for p, r in results)
    return GateResult(
        gate=gate,
        passed=all(r.passed for _, r in results),
        summary="; ".join(f"{p}: {r.summary}" for p, r in results) or "no project left to check",
        counts=counts,
        findings=[f for _, r in results for f in r.findings][:MAX_FINDINGS],
        duration_s=duration,
        output_tail=tail[-OUTPUT_TAIL_CHARS:],
    )


def _tool_settings(workspace: Path, tool: str) -> dict[str, Any]:
    """The ``[tool.TOOL]`` table of the workspace's pyproject.toml (empty if none)."""
    try:
        data = tomllib.loads((workspace / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    tables = data.get("tool")
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
        for line in result.output.splitlines():
            match = _VULTURE.match(line.strip())
            if match is None:
                continue
            findings.append(
                Finding(
                    message=f"{match.group('message')} ({match.group('conf')}% confidence)",
                    file=relative(match.group("file"), workspace),
                    line=int(match.group("line")),
                )
            )
        if result.returncode == 3 and not findings:
            raise ToolOutputError("vulture reported dead code but no line could be read")
        return Parsed(findings, summary=f"{len(findings)} unused item(s)" if findings else "")
