"""What an audit found, and how it is told: the report, its Markdown and JSON files, and the
learnings it leaves for later runs.

:func:`engine.audit.run_audit` fills an :class:`AuditReport` from the gates and the code
reviewers; this module holds that record, turns a gate's result or a reviewer's
``path:line: message`` into its entries, writes it, and says what later runs should learn
from it. It runs nothing itself.
"""

from __future__ import annotations

import fcntl
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from engine.files import replace_file
from engine.protocols import Finding, GateResult
from engine.request_title import request_title

DEAD_CODE_GATE = "dead-code"


_LOCATED = re.compile(r"^\s*(?P<file>[^\s:][^:]*?):(?P<line>\d+):\s*(?P<message>.+)$", re.S)


def located(text: str) -> Finding:
    """A reviewer's finding string as a Finding, with file and line when it names them."""
    match = _LOCATED.match(text)
    if match is None:
        return Finding(message=text.strip())
    return Finding(
        message=match["message"].strip(), file=match["file"].strip(), line=int(match["line"])
    )


UNTESTED_MEANS = (
    "No test file imports these, nor a name their package re-exports from them; one tested "
    "only through another module or through a command line a test runs is listed too."
)


NO_PYTHON = "(not analysed: no Python in this repository; the check reads Python only)"

REPORTED_FINDINGS = 50
"""A gate's findings the report lists (the rest are counted)."""


class AuditGate(BaseModel):
    name: str
    passed: bool
    summary: str
    findings: list[Finding] = Field(default_factory=list)
    total: int | None = None
    """How many findings the gate counted (None: as many as listed)."""
    blocking: int | None = None
    """How many of them fail the gate, listed first (None: all); the rest are advisory."""


class AuditReview(BaseModel):
    reviewer: str
    model: str = ""
    score: int
    findings: list[Finding] = Field(default_factory=list)


class AuditReport(BaseModel):
    """Everything an audit found, as written to ``audit.json``."""

    run_id: str
    request: str
    repo: str
    commit: str
    generated_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    gates: list[AuditGate] = Field(default_factory=list)
    reviews: list[AuditReview] = Field(default_factory=list)
    review_failures: list[str] = Field(default_factory=list)
    """One line per code reviewer that could not review (its provider gave up, say)."""
    dead_code: list[Finding] = Field(default_factory=list)
    untested_modules: list[str] = Field(default_factory=list)
    not_python: list[str] = Field(default_factory=list)
    """The parts of the repository the Python-only checks (dead code, untested modules)
    cannot read: ``"."`` for a repository with no Python module, else each package folder
    of another language with none in it (a ``web/`` front end)."""
    dead_code_ran: bool = True
    """Whether the dead-code gate ran (it is the Python profile's)."""

    @property
    def red_gates(self) -> list[AuditGate]:
        return [g for g in self.gates if not g.passed]

    def to_markdown(self) -> str:
        """The human-readable report."""
        lines = [
            f"# Audit of {self.repo}",
            "",
            f"- run: `{self.run_id}`  commit: `{self.commit[:12]}`  at {self.generated_at}",
            f"- request: {request_title(self.request)}",
            f"- gates: {len(self.gates) - len(self.red_gates)} green, {len(self.red_gates)} red",
            "",
            "## Gates",
            "",
        ]
        for gate in self.gates:
            mark = "PASS" if gate.passed else "FAIL"
            lines.append(f"### {mark} {gate.name}: {gate.summary}")
            if gate.name == DEAD_CODE_GATE and gate.findings and self.dead_code:
                lines.append("- listed under Dead code below")  # not the same list twice
            else:
                lines.extend(_gate_findings(gate))
            lines.append("")
        lines += ["## Code review", ""]
        if not self.reviews and not self.review_failures:
            lines.append("(no reviewer on this run reads code)")
        for failure in self.review_failures:
            lines += [f"### NOT REVIEWED {failure}", ""]
        for review in self.reviews:
            lines.append(f"### {review.reviewer} ({review.model}): {review.score}/100")
            lines.extend(f"- {_where(f)}{f.message}" for f in review.findings)
            lines.append("")
        lines += ["", "## Dead code", ""]
        if "." in self.not_python:
            lines.append(NO_PYTHON)
        elif not self.dead_code_ran:
            lines.append("(not analysed: the dead-code gate did not run)")
        else:
            lines.extend(f"- {_where(f)}{f.message}" for f in self.dead_code)
            if not self.dead_code:
                lines.append("(none found in the Python code)")
            lines.extend(self._unread_parts())
        lines += ["", "## Untested modules", ""]
        if "." in self.not_python:
            lines.append(NO_PYTHON)
        else:
            lines += [UNTESTED_MEANS, ""]
            lines.extend(f"- {m}" for m in self.untested_modules)
            if not self.untested_modules:
                lines.append("(every Python module is imported by a test)")
            lines.extend(self._unread_parts())
        return "\n".join(lines).rstrip() + "\n"

    def _unread_parts(self) -> list[str]:
        return [f"({folder}/ not analysed: no Python there)" for folder in self.not_python]

    def write(self, folder: Path) -> tuple[Path, Path]:
        """Write ``audit.md`` and ``audit.json`` into ``folder``; returns both paths.

        Two audits may share an ``--out`` folder: each file is replaced whole (a reader
        sees one report or the other, never a mix), and both under the folder's lock, so
        that the two files left are one audit's.
        """
        folder.mkdir(parents=True, exist_ok=True)
        md, js = folder / "audit.md", folder / "audit.json"
        texts = ((md, self.to_markdown()), (js, self.model_dump_json(indent=2)))
        handle = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)  # on the folder: no lock file left in it
            for path, text in texts:
                replace_file(path, text)
        finally:
            os.close(handle)
        return md, js


def _gate_findings(gate: AuditGate) -> list[str]:
    """A gate's findings as list lines: the blocking ones, then the advisory ones under their
    own heading, then how many were left out."""
    blocking = len(gate.findings) if gate.blocking is None else gate.blocking
    lines = [
        f"- {_where(f)}{f.message}"
        for f in gate.findings[:blocking]
        if f.file or f.message != gate.summary  # a tool that failed outright: its heading
    ]
    advisory = gate.findings[blocking:]
    if advisory:
        lines.append("- advisory (below the gate's bar, not counted as failing):")
        lines.extend(f"  - {_where(f)}{f.message}" for f in advisory)
    total = gate.total if gate.total is not None else len(gate.findings)
    if total > len(gate.findings):
        lines.append(f"- ... and {total - len(gate.findings)} more, not listed")
    return lines


def _where(finding: Finding) -> str:
    if finding.file and finding.line:
        return f"`{finding.file}:{finding.line}` "
    return f"`{finding.file}` " if finding.file else ""


def _relative(text: str, tree: Path | None) -> str:
    """``text`` with the audited copy's path taken out of the paths it quotes: the copy is
    deleted once the audit ends, and the report reads relative to the repository."""
    if tree is None:
        return text
    for spelling in dict.fromkeys((str(tree), str(tree.resolve()))):
        text = text.replace(f"{spelling}/", "")
    return text


def gate_entry(result: GateResult, tree: Path | None = None) -> AuditGate:
    """A gate's verdict as the report keeps it; paths into ``tree`` (the audited copy) are
    given relative to the repository."""
    counts = result.counts
    total = max(counts.get("findings", len(result.findings)), len(result.findings))
    blocking = counts.get("blocking")
    return AuditGate(
        name=result.gate,
        passed=result.passed,
        summary=_relative(result.summary, tree),
        findings=[
            f.model_copy(
                update={"message": _relative(f.message, tree), "detail": _relative(f.detail, tree)}
            )
            for f in result.findings[:REPORTED_FINDINGS]
        ],
        total=total,
        blocking=None if blocking is None else min(blocking, REPORTED_FINDINGS),
    )


def audit_learnings(report: AuditReport, limit: int = 10) -> list[tuple[str, str, str, list[str]]]:
    """What an audit teaches later runs, as (kind, text, source, tags)."""
    found: list[tuple[str, str, str, list[str]]] = []
    for gate in report.red_gates:
        first = gate.findings[0] if gate.findings else None
        detail = f" first: {_where(first)}{first.message}" if first else ""
        found.append(
            (
                "trap",
                f"audit: gate {gate.name} is red on this repository: {gate.summary}.{detail}",
                f"audit:{gate.name}",
                ["audit", gate.name, *dict.fromkeys(f.file for f in gate.findings[:5] if f.file)],
            )
        )
    for review in report.reviews:
        located_findings = [f for f in review.findings if f.file]
        for number, finding in enumerate(located_findings[:3], 1):
            found.append(
                (
                    "rule",
                    f"audit review: {_where(finding)}{finding.message}",
                    f"audit:{review.reviewer}:{number}",
                    ["audit", "review", *([finding.file] if finding.file else [])],
                )
            )
    return [(k, t[:500], s, tags) for k, t, s, tags in found[:limit]]
