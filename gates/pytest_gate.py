"""The tests gate: runs the workspace's pytest suite in the sandbox and reports what failed.

A failing test becomes a Finding that names the test, says what went wrong in one line, points
at the line that raised and carries the traceback — so the retry an engineer gets from
``GateResult.failure_context()`` shows the assertion itself, not just "tests failed".
How pytest's output and report are read into findings and summaries is
``gates.pytest_output``; here the gate runs pytest in each project and merges their verdicts.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from engine.beneath import folder_beneath, linked_out
from engine.layout import (
    NO_PYTEST,
    PYTEST_PLAIN_OUTPUT,
    pytest_missing_line,
    with_project_python,
    with_src_on_path,
)
from engine.protocols import CommandResult, Finding, GateResult, Sandbox
from engine.pytest_addopts import left_out_note, run_pytest
from gates.junit import JunitError, parse_junit
from gates.pytest_output import (
    OFFLINE,
    bounded_detail,
    conftest_failure,
    counts_summary,
    deselected_said,
    failed_subtests,
    first_error_line,
    junit_summary,
    lacking_module,
    problem_finding,
    progress_said,
    stats_said,
    stop_reason,
    unmet_dependencies,
)
from gates.tool_gate import ReportFile, fingerprint_of

OUTPUT_TAIL_CHARS = 4000

EXIT_MEANINGS = {
    2: "interrupted",
    3: "internal error",
    4: "usage error",
    5: "no tests collected",
}
"""pytest's exit codes other than 0 (all passed) and 1 (some failed)."""


class PytestGate:
    """Implements ``engine.protocols.Gate``: ``python -m pytest`` in the workspace."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        name: str = "tests",
        args: Sequence[str] = (),
        timeout_s: float = 600.0,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        projects: Sequence[str] = (".",),
    ) -> None:
        self.name = name
        self.env = dict(env or {})
        self.sandbox = sandbox
        self.args = tuple(args)
        self.timeout_s = timeout_s
        self.python = python
        self.runs_on = python
        """Whose installed packages the verdict depends on (``gates.cache`` keys on them)."""
        self.projects = tuple(projects) or (".",)
        """Folders of the workspace pytest runs in, each on its own (a monorepo's projects,
        each with its own configuration); ``"."`` is the workspace itself."""

    def fingerprint(self) -> str:
        """The gate's configuration, hashed (see gates.cache); ``4``: counts are the ones
        pytest's last line says (subtests' too), and the project's own command missing is
        said, which results cached before did not carry."""
        return fingerprint_of(
            "PytestGate",
            4,
            self.name,
            list(self.args),
            self.timeout_s,
            self.python,
            sorted(self.env.items()),
            list(self.projects),
        )

    async def check(self, workspace: Path) -> GateResult:
        """Run the suite (each project's); passed exactly when pytest exits 0 in each that
        has tests."""
        if self.projects == (".",):
            return await self._check_project(workspace, ".", self.timeout_s)
        started = time.monotonic()
        results: list[tuple[str, GateResult]] = []
        for project in self.projects:
            if not (workspace / project).is_dir():
                continue  # the change removed it
            if not folder_beneath(workspace, project):  # the jail would bind that folder
                results.append((project, _failed(self.name, linked_out(project))))
                continue
            left = self.timeout_s - (time.monotonic() - started)
            if left <= 0:
                message = f"{project}: not run, the {self.timeout_s:g}s for the tests ran out"
                results.append((project, _failed(self.name, message)))
                continue
            others = [f"--ignore={p}" for p in self.projects if p != "."] if project == "." else []
            result = await self._check_project(workspace, project, left, others)
            results.append((project, _in_project(result, project)))
        return _merged(self.name, results, time.monotonic() - started)

    async def rerun(self, workspace: Path, keys: Sequence[str]) -> GateResult:
        """Run only the tests ``keys`` names (node ids as this gate's findings carry them,
        relative to the workspace) once more: how a failure is told flaky. Findings keep
        those ids; a test no project holds is not run."""
        started = time.monotonic()
        by_project: dict[str, list[str]] = {}
        for key in dict.fromkeys(keys):
            project = _project_of(key, self.projects)
            if project is not None:
                prefix = "" if project == "." else project + "/"
                by_project.setdefault(project, []).append(key.removeprefix(prefix))
        results: list[tuple[str, GateResult]] = []
        for project, ids in by_project.items():
            if not folder_beneath(workspace, project):
                results.append((project, _failed(self.name, linked_out(project))))
                continue
            left = self.timeout_s - (time.monotonic() - started)
            if left <= 0:
                message = f"{project}: not run again, the {self.timeout_s:g}s ran out"
                results.append((project, _failed(self.name, message)))
                continue
            result = await self._check_project(workspace, project, left, ids, rerun=True)
            results.append((project, _in_project(result, project)))
        if not results:
            return _failed(self.name, "none of the tests to run again is in a tested project")
        return _merged(self.name, results, time.monotonic() - started)

    async def _check_project(
        self,
        workspace: Path,
        project: str,
        timeout_s: float,
        extra: Sequence[str] = (),
        *,
        rerun: bool = False,
    ) -> GateResult:
        started = time.monotonic()
        report = ReportFile(workspace / project, "junit", ".xml")  # bwrap: the project is writable
        try:
            junit = report.prepare()
        except OSError as exc:
            message = f"cannot prepare workspace {workspace}: {exc.strerror or exc}"
            return GateResult(
                gate=self.name, passed=False, summary=message, findings=[Finding(message=message)]
            )
        argv = [
            self.python,
            "-m",
            "pytest",
            # -q's output whatever the project's addopts say: it adds to them ("-qq" made
            # "-qqq", which prints no last line to count from; "-v" made the plain output,
            # whose progress lines a killed suite is not read from), the last --verbosity wins.
            "--verbosity=-1",
            "-p",
            "no:cacheprovider",
            "-o",
            "junit_family=xunit1",
            "--continue-on-collection-errors",  # one unimportable module must not hide the rest
            *PYTEST_PLAIN_OUTPUT,
            f"--junitxml={junit}",
            *extra,
            *(() if rerun else self.args),  # node ids alone: args may name whole folders
        ]
        env = with_project_python(with_src_on_path(self.env, workspace / project), self.python)
        try:
            result, dropped = await run_pytest(
                self.sandbox, argv, workspace, project, timeout_s=timeout_s, env=env or None
            )
        finally:
            xml_text = await asyncio.to_thread(report.collect)
        verdict = self._judge(result, xml_text, time.monotonic() - started, workspace / project)
        if not dropped:
            return verdict
        note = left_out_note(dropped, self.python)
        return verdict.model_copy(update={"summary": verdict.summary + note})

    def _judge(
        self, result: CommandResult, xml_text: str | None, duration: float, cwd: Path
    ) -> GateResult:
        tail = result.output[-OUTPUT_TAIL_CHARS:]

        def verdict(
            passed: bool,
            summary: str,
            findings: list[Finding] | None = None,
            counts: dict[str, int] | None = None,
        ) -> GateResult:
            return GateResult(
                gate=self.name,
                passed=passed,
                summary=summary,
                counts=counts or {},
                findings=findings or [],
                duration_s=duration,
                output_tail=tail,
            )

        said = stats_said(result.output)  # the counts pytest says; the report's per test
        if result.timed_out and said is not None:
            # Its last line printed, pytest waited at exit (on a thread a test left running, a
            # child process): more time would not help.
            message = (
                f"pytest ran the tests but did not exit within {self.timeout_s:g}s and was "
                "killed (a thread or process a test started still running?)"
            )
            summary = f"timed out after {self.timeout_s:g}s: {counts_summary(*said)}"
            return verdict(
                False,
                summary + ", then pytest did not exit",
                [Finding(message=message, detail=bounded_detail(tail))],
                said[0],
            )
        if result.timed_out:
            # How far it got goes in the summary only: the finding's message stays the same
            # from run to run, so a suite that timed out at baseline is not new after a task.
            message = (
                f"pytest did not finish within {self.timeout_s:g}s and was killed "
                "(give the tests more time with [gates] test_timeout_s)"
            )
            return verdict(
                False,
                f"timed out after {self.timeout_s:g}s{progress_said(result.output)}",
                [Finding(message=message, detail=bounded_detail(tail))],
            )
        if xml_text is None and result.returncode == 1 and NO_PYTEST.search(result.output):
            message = pytest_missing_line(self.python)  # the project's venv, lacking pytest
            return verdict(False, message, [Finding(message=message)])
        if result.returncode == 5:
            message = "pytest collected no tests (add test_*.py files with test_* functions)"
            deselected = deselected_said(result.output)
            if deselected:
                message = (
                    f"pytest deselected all {deselected} test{'s' if deselected > 1 else ''} "
                    "it collected (-k or -m in the tests gate's args or the project's addopts "
                    "select none)"
                )
            zero = {"tests": 0, "passed": 0, "failures": 0, "errors": 0, "skipped": 0}
            return verdict(False, "no tests collected", [Finding(message=message)], zero)
        passed = result.returncode == 0
        broken = None if passed or xml_text is not None else conftest_failure(result.output, cwd)
        if broken is not None:
            summary = f"{broken.file} failed to load, so no test ran"
            lacking = lacking_module(broken.message, cwd)
            if lacking is not None:
                summary += f": dependencies not installed for {self.python}: module {lacking!r}"
            return verdict(False, summary, [broken])
        meaning = EXIT_MEANINGS.get(result.returncode, "crashed")
        try:
            if xml_text is None:
                raise JunitError("wrote no report")
            report = parse_junit(xml_text)
        except JunitError as exc:
            if passed:
                return verdict(True, f"passed ({exc})")
            message = (
                f"pytest exited with code {result.returncode} ({meaning}) and {exc}: "
                f"{first_error_line(result.output)}"
            )
            summary = f"pytest {meaning} (exit {result.returncode})"
            lacking = lacking_module(message, cwd)
            if lacking is not None:  # a plugin or a warning filter's category (httpx's trio)
                summary += f", no test ran: dependencies not installed for {self.python}: "
                summary += f"module {lacking!r}"
            return verdict(False, summary, [Finding(message=message, detail=bounded_detail(tail))])
        subtests = failed_subtests(result.output)
        findings = [problem_finding(p, subtests.get(p.node_id, ())) for p in report.problems]
        counts = said[0] if said is not None else report.counts()
        summary = counts_summary(*said) if said is not None else junit_summary(report)
        summary += unmet_dependencies(report.problems, cwd, self.python)
        offline = sum(1 for problem in report.problems if OFFLINE.search(problem.headline))
        if offline:  # requests' connect-timeout tests, say: the sandbox has no network
            summary += f"; {offline} of them could not reach the network"
        if result.returncode not in (0, 1):
            summary += f" (pytest exit {result.returncode}: {meaning})"
            if not findings:
                message = f"pytest exited with code {result.returncode}: "
                reason = stop_reason(result.output) or first_error_line(result.output)
                findings.append(Finding(message=message + reason))
        return verdict(passed, summary, findings, counts)


def _project_of(key: str, projects: Sequence[str]) -> str | None:
    """The project (of ``projects``) a test's node id lies in: the deepest that holds it."""
    path = key.partition("::")[0]
    inside = [p for p in projects if p == "." or path.startswith(p.rstrip("/") + "/")]
    return max(inside, key=lambda p: 0 if p == "." else len(p), default=None)


def _failed(gate: str, message: str) -> GateResult:
    return GateResult(gate=gate, passed=False, summary=message, findings=[Finding(message=message)])


def _in_project(result: GateResult, project: str) -> GateResult:
    """A project's result with its paths and test ids made relative to the workspace."""
    if project == ".":
        return result

    def moved(finding: Finding) -> Finding:
        inside = finding.file is not None and not Path(finding.file).is_absolute()
        return finding.model_copy(
            update={
                "file": f"{project}/{finding.file}" if inside else finding.file,
                "key": f"{project}/{finding.key}" if finding.key else None,
                "message": f"{project}/{finding.message}"
                if finding.key
                else f"{project}: {finding.message}",
            }
        )

    return result.model_copy(update={"findings": [moved(f) for f in result.findings]})


def _merged(gate: str, results: list[tuple[str, GateResult]], duration: float) -> GateResult:
    """One verdict over the projects: a project without tests counts only when no project
    has any."""
    ran = [(p, r) for p, r in results if r.summary != "no tests collected"] or results
    if not ran:
        return _failed(gate, "pytest collected no tests (no Python project left to test)")
    counts: dict[str, int] = {}
    for _, result in ran:
        for key, value in result.counts.items():
            counts[key] = counts.get(key, 0) + value
    tail = "\n".join(f"== {p}\n{r.output_tail}" for p, r in ran)
    return GateResult(
        gate=gate,
        passed=all(r.passed for _, r in ran),
        summary="; ".join(f"{p}: {r.summary}" for p, r in ran),
        counts=counts,
        findings=[f for _, r in ran for f in r.findings],
        duration_s=duration,
        output_tail=tail[-OUTPUT_TAIL_CHARS:],
    )
