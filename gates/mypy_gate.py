"""The types gate: mypy as the repository configures it, in each of its projects.

mypy runs from shopfloor's environment against the project's interpreter (its installed
packages, its Python version), in the workspace or in each folder that configures mypy on its
own, with a warm cache when ``gates.mypy_seed`` keeps one. Its JSON lines become Findings that
point at a file and a line; a monorepo's projects are merged into one verdict. Where and how a
repository configures mypy is read by ``gates.mypy_config``.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.beneath import folder_beneath, linked_out
from engine.protocols import CommandResult, Finding, GateResult, Sandbox
from gates.mypy_config import pre_commit_mypy_excludes
from gates.mypy_runners import runner_mypy_targets
from gates.mypy_seed import MypySeeds, run_mypy
from gates.repo_shape import SKIPPED_DIRS
from gates.tool_gate import (
    MAX_FINDINGS,
    OUTPUT_TAIL_CHARS,
    Parsed,
    ToolGate,
    ToolOutputError,
    fingerprint_of,
    relative,
)
from gates.tox_config import tox_commands


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
    mypy runs in each on its own (a monorepo whose projects each configure mypy, one inside
    another too: the outer run leaves the inner project to its own); paths in the findings
    are then relative to the workspace.
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

    def wants_run(self, workspace: Path) -> bool:
        """Whether a cached verdict would leave a project without a seed: a publisher runs
        then (``gates.cache``), or the attempts of a run whose tasks merge one after another
        (each merge's tree is its attempt's, its verdict cached) all start cold."""
        if not self.publishes or self.seeds is None:
            return False
        return any(
            self.seeds.current(self._seed_key(project)) is None
            for project in self.projects
            if folder_beneath(workspace, project)
        )

    def argv(self, workspace: Path) -> list[str]:
        return self._argv(self.projects.get(".", self.targets), ".", workspace)

    def _seed_key(self, project: str) -> str:
        return fingerprint_of(self.fingerprint(), project, mypy_version())

    async def _run(
        self, workspace: Path, project: str, targets: Sequence[str], timeout_s: float
    ) -> CommandResult:
        return await run_mypy(
            self.sandbox,
            self._argv(targets, project, workspace),
            workspace / project,
            workspace,
            timeout_s=timeout_s,
            env=self.env or None,
            seeds=self.seeds,
            key=self._seed_key(project),
            publish=self.publishes,
        )

    def _inner(self, project: str) -> list[str]:
        """The projects inside ``project``, relative to it: each is checked by a run of its
        own, with its own configuration, as mypy run there would (``gates.mypy_config``)."""
        prefix = "" if project == "." else project.rstrip("/") + "/"
        return [
            p.removeprefix(prefix)
            for p in self.projects
            if p not in (project, ".") and p.startswith(prefix)
        ]

    def _argv(self, targets: Sequence[str], project: str, workspace: Path) -> list[str]:
        excludes = "|".join(re.escape(d) for d in SKIPPED_DIRS)
        # Only from a run shopfloor points at the whole folder: files a configuration names
        # itself are checked as its maintainers' run checks them.
        inner = "|".join(re.escape(p) for p in self._inner(project)) if "." in targets else ""
        # The pre-commit hook's paths are the checkout's top's, as is the run in ".".
        hooked = pre_commit_mypy_excludes(workspace) if "." in targets and project == "." else ()
        if "." in targets and project == "." and not hooked:
            # Without a hook, what tox's or nox's mypy command names (``mypy src``, ``-p pkg``).
            targets = runner_mypy_targets(workspace) or targets
        version = self.python_version if project not in self.pinned else None
        return [
            "mypy",
            "--output",
            "json",
            "--no-error-summary",
            "--hide-error-context",
            "--exclude",
            f"(^|/)({excludes})/",
            *(("--exclude", f"^({inner})/") if inner else ()),
            *(option for pattern in hooked for option in ("--exclude", pattern)),
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
            return self._noted(self.judge(result, workspace, time.monotonic() - started), workspace)
        results: list[tuple[str, GateResult]] = []
        for project, targets in self.projects.items():
            folder = workspace / project
            if not folder.is_dir():
                continue  # the change removed it
            if not folder_beneath(workspace, project):  # the jail would bind that folder
                results.append((project, _failed(self.name, linked_out(project))))
                continue
            left = self.timeout_s - (time.monotonic() - started)
            if left <= 0:
                message = f"{project}: not run, the {self.timeout_s:g}s for mypy ran out"
                results.append((project, _failed(self.name, message)))
                continue
            begun = time.monotonic()
            result = await self._run(workspace, project, targets, left)
            judged = self.judge(result, folder, time.monotonic() - begun)
            if project == ".":
                judged = self._noted(judged, workspace)
            results.append((project, _in_project(judged, project)))
        return _merged(self.name, results, time.monotonic() - started)

    def _noted(self, result: GateResult, workspace: Path) -> GateResult:
        """``result`` of the run in the workspace's top, its summary saying so where tox's
        configuration could not be read for the targets its mypy command names (a
        malformed ``tox.toml``): the run then checked the whole folder."""
        if "." not in self.projects.get(".", ()) or pre_commit_mypy_excludes(workspace):
            return result
        problem = tox_commands(workspace).problem
        if not problem:
            return result
        return result.model_copy(update={"summary": f"{result.summary}; {problem}"})

    def failure_line(self, output: str, workspace: Path) -> str:
        """mypy's blocking error, read from its JSON line ('Duplicate module named "setup"'
        came as a 300-character cut of raw JSON, said twice on the console)."""
        for line in reversed(output.splitlines()):
            item = _mypy_line(line.strip())
            if item is not None and item.get("message"):
                where = relative(str(item.get("file") or ""), workspace)
                return f"{where}: {item['message']}"[:300] if where else str(item["message"])
        return super().failure_line(output, workspace)

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
        summary += not_installed(findings, workspace, self.runs_on)
        return Parsed(findings, counts={"notes": notes}, summary=summary)


_NOT_FOUND = re.compile(r'module named "(?P<name>[\w.]+)" \[import-not-found\]$')


def not_installed(findings: Sequence[Finding], workspace: Path, python: str) -> str:
    """What the summary adds when some of ``findings`` are imports of modules ``python`` has
    not installed: inflect's 8 type errors on a Python without its dependencies were
    'Cannot find implementation or library stub for module named "jaraco.functools"',
    blamed on the code as the rest. A module the project holds is not counted."""
    lacking: dict[str, None] = {}
    count = 0
    for finding in findings:
        found = _NOT_FOUND.search(finding.message)
        if found is None:
            continue
        top = found["name"].partition(".")[0]
        if any(
            (w / top).exists() or (w / f"{top}.py").exists() for w in (workspace, workspace / "src")
        ):
            continue
        lacking[repr(top)] = None
        count += 1
    if not count:
        return ""
    return f"; {count} of them: modules not installed for {python}: {', '.join(lacking)}"


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
    if project == ".":
        return result

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
