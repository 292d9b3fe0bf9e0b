"""The shared shape of a gate that runs one tool in the sandbox and parses what it printed.

Every lint, type, security and custom gate does the same dance: build an argv, run it in the
workspace through the Sandbox, turn a timeout or a missing tool into a clear finding, parse the
tool's machine-readable output into located Findings, and decide. :class:`ToolGate` does the
dance once; a concrete gate supplies ``argv`` and ``parse``. Each gate also states a
``fingerprint`` of its configuration, which the gate cache uses as part of its key.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from engine.beneath import LeavesRoot, read_beneath
from engine.protocols import CommandResult, Finding, GateResult, Sandbox

OUTPUT_TAIL_CHARS = 4000
REPORT_DIR = ".shopfloor"
"""Inside the workspace (the only place a jailed command may write); never committed."""
MAX_FINDINGS = 200
"""A gate keeps at most this many findings (the count still says how many there were)."""
BWRAP_EXEC_FAILED = re.compile(r"^bwrap: execvp (\S+): (.+)$", re.MULTILINE)
"""bwrap saying the jailed command could not start: a program in a folder the jail hides
(the real home, ``/tmp``), which ``which`` found outside it."""

_LOCATION = re.compile(
    r"(?P<file>(?:(?<!\w)[A-Za-z]:(?=[\\/]))?[\w./\\-]*\w\.[A-Za-z]{1,5})"
    r"(?::(?P<line>\d+)(?::\d+)?|\((?P<pline>\d+),\d+\))"
)
"""``path/file.ext:12``, ``path/file.ext:12:5`` or ``file.ts(12,5)`` anywhere in a line; a
drive letter only before a slash (``file:///w/a.js:3`` is ``/w/a.js``, not ``e:///w/a.js``)."""


class ToolOutputError(ValueError):
    """The tool's output could not be read as the format it promised."""


@dataclass(frozen=True)
class Parsed:
    """What a gate read from its tool's output."""

    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    blocking: int | None = None
    """How many findings fail the gate — the first ones of ``findings``, advisory ones after
    them (the baseline guard reads them so); None means all of them."""
    summary: str = ""


def relative(path: str, workspace: Path) -> str:
    """``path`` relative to the workspace when it lies inside it; as given otherwise."""
    text = path
    while text.startswith("./"):  # bandit names a file given as ./x.py "././x.py"
        text = text[2:]
    candidate = Path(text)
    if not candidate.is_absolute():
        return text
    for root in (workspace, workspace.resolve()):
        try:
            return str(candidate.relative_to(root))
        except ValueError:
            continue
    try:
        return str(candidate.resolve().relative_to(workspace.resolve()))
    except (ValueError, OSError):
        return text


def extract_json(output: str) -> Any:
    """The JSON document in ``output``, skipping any lines a tool printed before it."""
    stripped = output.strip()
    if not stripped:
        raise ToolOutputError("no output")
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    for match in re.finditer(r"^[\[{]", output, re.MULTILINE):
        try:
            value, _ = decoder.raw_decode(output, match.start())
        except json.JSONDecodeError:
            continue
        return value
    first = stripped.splitlines()[0][:200]
    raise ToolOutputError(f"no JSON document in the output (it starts: {first!r})")


def without_workspace(text: str, workspace: Path) -> str:
    """``text`` with the workspace's own path taken out (it differs between worktrees, so a
    message naming it would be new in every attempt)."""
    for root in sorted({f"{workspace}/", f"{workspace.resolve()}/"}, key=len, reverse=True):
        text = text.replace(root, "")
    return text


def located_lines(output: str, workspace: Path, limit: int = MAX_FINDINGS) -> list[Finding]:
    """Findings for the output lines that name a file of the workspace and a line number;
    the workspace's own path is taken out of each line (it differs between worktrees)."""
    findings: list[Finding] = []
    seen: set[tuple[str, int, str]] = set()
    for raw in output.splitlines():
        line = raw.strip()
        match = _LOCATION.search(line)
        if match is None:
            continue
        file = relative(match.group("file"), workspace)
        if Path(file).is_absolute() or file.startswith("..") or "node_modules" in file:
            continue
        if not (workspace / file).is_file():
            continue
        number = int(match.group("line") or match.group("pline"))
        line = without_workspace(line, workspace)
        key = (file, number, line)
        if key in seen:
            continue
        seen.add(key)
        findings.append(Finding(message=line[:300], file=file, line=number))
        if len(findings) >= limit:
            break
    return findings


def last_meaningful_line(output: str) -> str:
    """The last non-empty line of output (what a failing command usually ends with)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def fingerprint_of(*parts: object) -> str:
    """A short stable hash of a gate's configuration."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ReportFile:
    """The file a tool writes its report to in one check: made inside the workspace, read,
    then removed.

    Gates of one workspace run side by side (``engine.gate_runner``), each with a report of
    its own in the one report directory: the directory is removed by the last report in it,
    and only if a report made it (the first check to finish removed it under the others,
    whose tools then had nowhere to write and their gates failed as unreadable).
    """

    _lock = threading.Lock()
    _users: ClassVar[dict[Path, int]] = {}
    """Reports prepared and not yet collected, by directory."""
    _made: ClassVar[set[Path]] = set()
    """Directories a report made (removed when their last report is collected)."""

    def __init__(self, workspace: Path, kind: str, suffix: str) -> None:
        self.workspace = workspace
        self.directory = workspace / REPORT_DIR
        self.path = self.directory / f"{kind}-{uuid.uuid4().hex}{suffix}"
        self._prepared = False

    def prepare(self) -> Path:
        """Make the report directory; raise OSError when the workspace is unusable, or the
        directory is a symlink (an agent's, to a folder of the host: written through, the
        host's folder would get the reports)."""
        if not self.workspace.is_dir():
            raise FileNotFoundError(errno.ENOENT, "no such directory", str(self.workspace))
        if self.directory.is_symlink():
            raise OSError(errno.ELOOP, "a symlink stands where the reports go", str(self.directory))
        with self._lock:
            if not self.directory.exists():
                self.directory.mkdir()
                self._made.add(self.directory)
            self._users[self.directory] = self._users.get(self.directory, 0) + 1
            self._prepared = True
        return self.path

    def collect(self) -> str | None:
        """The report's text if the tool wrote one; leaves no trace in the workspace. Read
        part by part (:mod:`engine.beneath`): code of the workspace's running beside the tool
        (a test's conftest.py, in this gate or one beside it) can put a link to a file of the
        host where the report is, which is then no report."""
        try:
            data, _ = read_beneath(
                self.workspace, (REPORT_DIR, self.path.name), shown=self.path.name
            )
        except (OSError, LeavesRoot):
            return None
        else:
            return data.decode("utf-8", "replace")
        finally:
            self.path.unlink(missing_ok=True)
            self._release()

    def _release(self) -> None:
        if not self._prepared:
            return
        self._prepared = False
        with self._lock:
            left = self._users.pop(self.directory, 1) - 1
            if left:
                self._users[self.directory] = left
            elif self.directory in self._made:
                self._made.discard(self.directory)
                with contextlib.suppress(OSError):
                    self.directory.rmdir()


class ToolGate:
    """Base of the gates that run one command. Implements ``engine.protocols.Gate``.

    Subclasses set ``tool`` (for messages) and implement :meth:`argv` and :meth:`parse`;
    ``ok_codes`` are the exit codes that mean "the tool ran" (findings or not).
    """

    tool = "tool"
    ok_codes: frozenset[int] = frozenset({0, 1})
    cacheable = True
    reads_only = True
    """The tool reads the tree and writes only its caches: it may run beside other such gates
    (``engine.gate_runner``)."""
    report_option: str | None = None
    """The tool's option naming a file to write its report to (ruff's ``--output-file``).
    Read from there, a large report is whole: printed, it was cut at the sandbox's output
    cap and could not be parsed (rich's 1.1 MB of ruff JSON failed the lint gate)."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        name: str,
        timeout_s: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"gate {name!r}: timeout_s must be positive, got {timeout_s}")
        self.name = name
        self.sandbox = sandbox
        self.timeout_s = timeout_s
        self.env = dict(env or {})

    def argv(self, workspace: Path) -> list[str]:
        """The command to run in ``workspace``."""
        raise NotImplementedError

    def parse(self, result: CommandResult, workspace: Path) -> Parsed:
        """Read the tool's output; raise :class:`ToolOutputError` when it is unreadable."""
        raise NotImplementedError

    def settings(self) -> Sequence[object]:
        """Everything that changes this gate's verdict on a given tree (for the cache)."""
        return ()

    def fingerprint(self) -> str:
        """A hash of the gate's configuration: same tree + same fingerprint = same result."""
        return fingerprint_of(
            type(self).__name__, self.name, sorted(self.env.items()), list(self.settings())
        )

    async def check(self, workspace: Path) -> GateResult:
        """Run the tool in ``workspace`` and judge what it printed."""
        return await self.run_tool(workspace, self.argv(workspace))

    async def run_tool(
        self, workspace: Path, argv: list[str], started: float | None = None
    ) -> GateResult:
        """Run ``argv`` (this gate's tool) in ``workspace`` and judge what it printed; a gate
        whose command depends on more than the workspace's path builds it in its ``check``
        (``started``: when that began, for the duration)."""
        started = time.monotonic() if started is None else started
        report = None
        if self.report_option is not None:
            report = ReportFile(workspace, self.tool, ".out")
            try:
                argv += [self.report_option, str(report.prepare())]
            except OSError:
                report = None  # the tool prints it, and the run says what is wrong there
        try:
            result = await self.sandbox.run(
                argv, workspace, timeout_s=self.timeout_s, env=self.env or None
            )
        finally:
            written = None if report is None else await asyncio.to_thread(report.collect)
        return self.judge(result, workspace, time.monotonic() - started, written)

    def failure_line(self, output: str, workspace: Path) -> str:
        """What a run that failed outright said, for its one finding: its last line."""
        return last_meaningful_line(output)

    def judge(
        self,
        result: CommandResult,
        workspace: Path,
        duration: float,
        report: str | None = None,
    ) -> GateResult:
        """Turn one command's result into this gate's verdict; ``report`` is what the tool
        wrote to its report file, parsed in place of its printed output."""
        tail = result.output[-OUTPUT_TAIL_CHARS:]

        def fail(summary: str, detail: str = "") -> GateResult:
            return GateResult(
                gate=self.name,
                passed=False,
                summary=summary,
                findings=[Finding(message=summary, detail=detail)],
                duration_s=duration,
                output_tail=tail,
            )

        if result.timed_out:
            return fail(f"{self.tool} did not finish within {self.timeout_s:g}s and was killed")
        if result.returncode in (126, 127) and result.output.startswith("shopfloor sandbox:"):
            return fail(f"{self.tool} could not start: {last_meaningful_line(result.output)}")
        jailed = BWRAP_EXEC_FAILED.search(result.output)
        if result.returncode in (126, 127) and jailed is not None:
            # Not the code's verdict: at the baseline it was "red, not blocking" for good.
            return fail(
                f"{self.tool} could not start in the sandbox ({jailed.group(2)}): "
                f"{jailed.group(1)} lies in a folder the sandbox hides (your home, /tmp); "
                "install it elsewhere or name a path outside those"
            )
        if result.returncode not in self.ok_codes:
            return fail(
                f"{self.tool} failed (exit {result.returncode}): "
                f"{self.failure_line(result.output, workspace)}",
                detail=tail,
            )
        try:
            written = result if report is None else dataclasses.replace(result, output=report)
            parsed = self.parse(written, workspace)
        except ToolOutputError as exc:
            return fail(f"cannot read {self.tool}'s output: {exc}", detail=tail)
        blocking = len(parsed.findings) if parsed.blocking is None else parsed.blocking
        counts = {"findings": len(parsed.findings), "blocking": blocking, **parsed.counts}
        summary = parsed.summary or (
            f"{blocking} problem(s)"
            if blocking
            else f"clean ({len(parsed.findings)} advisory)"
            if parsed.findings
            else "clean"
        )
        return GateResult(
            gate=self.name,
            passed=blocking == 0,
            summary=summary,
            counts=counts,
            findings=parsed.findings[:MAX_FINDINGS],
            duration_s=duration,
            output_tail=tail,
        )
