"""Audit mode: a forensic review of a repository that changes nothing in it.

The audit copies the checkout as it is (uncommitted edits included, ``.git`` left out) into a
scratch folder outside the repository, commits it there so every gate sees an ordinary git
checkout, and runs every gate of the repository's profile on the copy. Reviewers that can read
code (:class:`CodeReviewer`) score the repository and name findings as ``path:line: message``.
Dead code comes from the dead-code gate; untested modules are the Python modules no test file
imports. The result is an :class:`AuditReport`, written as Markdown and JSON. Nothing is
written to the repository or its refs: the scratch copy is deleted afterwards.
"""

from __future__ import annotations

import ast
import asyncio
import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable

import git
from pydantic import BaseModel, Field

from engine.events import ReviewScored
from engine.factory_git import SessionRepo
from engine.files import replace_file
from engine.gate_runner import run_gates
from engine.protocols import EmitFn, Finding, Gate, GateResult
from engine.recon import RepoMapper, judges_revision
from engine.roles import ReviewReport
from engine.secret_files import masked_for_model

SKIP = frozenset(
    {".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".venv", "venv"}
)
DEAD_CODE_GATE = "dead-code"
_LOCATED = re.compile(r"^\s*(?P<file>[^\s:][^:]*?):(?P<line>\d+):\s*(?P<message>.+)$", re.S)


@runtime_checkable
class CodeReviewer(Protocol):
    """A reviewer that can score a repository's code (not only a blueprint)."""

    @property
    def reviewer_id(self) -> str: ...

    async def review_code(
        self, request: str, repo_map: str, sources: str, emit: EmitFn
    ) -> ReviewReport:
        """Score the code 0-100; each finding reads ``path:line: message``."""
        ...


def located(text: str) -> Finding:
    """A reviewer's finding string as a Finding, with file and line when it names them."""
    match = _LOCATED.match(text)
    if match is None:
        return Finding(message=text.strip())
    return Finding(
        message=match["message"].strip(), file=match["file"].strip(), line=int(match["line"])
    )


UNTESTED_MEANS = (
    "No test file imports these; one tested only through another module or through a "
    "command line a test runs is listed too."
)

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

    @property
    def red_gates(self) -> list[AuditGate]:
        return [g for g in self.gates if not g.passed]

    def to_markdown(self) -> str:
        """The human-readable report."""
        lines = [
            f"# Audit of {self.repo}",
            "",
            f"- run: `{self.run_id}`  commit: `{self.commit[:12]}`  at {self.generated_at}",
            f"- request: {self.request.strip().splitlines()[0] if self.request.strip() else ''}",
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
        lines.extend(f"- {_where(f)}{f.message}" for f in self.dead_code)
        if not self.dead_code:
            lines.append("(none found)")
        lines += ["", "## Untested modules", "", UNTESTED_MEANS, ""]
        lines.extend(f"- {m}" for m in self.untested_modules)
        if not self.untested_modules:
            lines.append("(every module is imported by a test)")
        return "\n".join(lines).rstrip() + "\n"

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
    lines = [f"- {_where(f)}{f.message}" for f in gate.findings[:blocking]]
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


def gate_entry(result: GateResult) -> AuditGate:
    counts = result.counts
    total = max(counts.get("findings", len(result.findings)), len(result.findings))
    blocking = counts.get("blocking")
    return AuditGate(
        name=result.gate,
        passed=result.passed,
        summary=result.summary,
        findings=list(result.findings[:REPORTED_FINDINGS]),
        total=total,
        blocking=None if blocking is None else min(blocking, REPORTED_FINDINGS),
    )


def unique_gates(*groups: Sequence[Gate]) -> list[Gate]:
    """Every gate of the given steps once, in first-seen order (by name)."""
    seen: dict[str, Gate] = {}
    for group in groups:
        for gate in group:
            seen.setdefault(gate.name, gate)
    return list(seen.values())


def tree_gates(*groups: Sequence[Gate]) -> list[Gate]:
    """:func:`unique_gates` of the gates that judge a tree: one that judges a revision gives
    way to a tree gate of its name (a task's secrets scan of what it changed, to the final
    verification's scan of the whole tree), and is left out where there is none (shrinkage)."""
    return unique_gates(*([g for g in group if not judges_revision(g)] for group in groups))


def checkout_files(repo: Path) -> list[str]:
    """The files of the checkout as it is: tracked (minus deleted) and untracked but not
    ignored — what ``git status`` would call the project. Read-only."""
    handle = SessionRepo(repo)
    try:
        out = handle.git.ls_files("-z", "--cached", "--others", "--exclude-standard")
    finally:
        handle.close()
    names = [n for n in dict.fromkeys(str(out).split("\0")) if n]
    return [n for n in names if not any(p in SKIP for p in PurePosixPath(n).parts)]


_SNAPSHOT_GIT = (
    "-c",
    "commit.gpgsign=false",  # the user's signing key (and its passphrase prompt) stays out
    "-c",
    "core.hooksPath=/dev/null",  # so do the user's global hooks: none runs on the copy
)
_SNAPSHOT_IDENTITY = {
    "GIT_AUTHOR_NAME": "shopfloor audit",
    "GIT_AUTHOR_EMAIL": "audit@shopfloor.invalid",
    "GIT_COMMITTER_NAME": "shopfloor audit",
    "GIT_COMMITTER_EMAIL": "audit@shopfloor.invalid",
}


def _copy_link(repo: Path, source: Path, target: Path) -> None:
    """Copy a symlink that stays inside the checkout as a link relative to its own folder
    (so it points at the copy); one that leaves the checkout or dangles is left out."""
    root = repo.resolve()
    try:
        real = source.resolve(strict=True)
    except (OSError, RuntimeError):
        return
    if real != root and not real.is_relative_to(root):
        return
    link_dir = source.parent.resolve()
    target.symlink_to(os.path.relpath(real, link_dir))


def snapshot(repo: Path, scratch: Path) -> Path:
    """Copy the checkout's files (uncommitted edits included; ignored files, .git and caches
    left out) to ``scratch/tree`` and commit them there, so gates see a plain git checkout.
    Symlinks inside the checkout are kept as links; the user's git hooks and commit signing
    play no part in the copy's commit."""
    tree = scratch / "tree"
    tree.mkdir(parents=True)
    for rel in checkout_files(repo):
        source = repo / rel
        target = tree / rel
        if source.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy_link(repo, source, target)
            continue
        if not source.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    git.Repo.init(tree).close()
    copy = git.Repo(tree)
    try:
        copy.git.execute(["git", *_SNAPSHOT_GIT, "add", "-A"])
        copy.git.execute(
            [
                "git",
                *_SNAPSHOT_GIT,
                "commit",
                "-q",
                "--no-verify",
                "--allow-empty",
                "-m",
                "audit snapshot",
            ],
            env=_SNAPSHOT_IDENTITY,
        )
    finally:
        copy.close()
    return tree


def scratch_folder() -> Path:
    """A fresh temporary folder for a snapshot (the caller removes it)."""
    return Path(tempfile.mkdtemp(prefix="shopfloor-audit-"))


def _is_test(rel: str) -> bool:
    path = PurePosixPath(rel)
    return (
        path.name.startswith("test_")
        or path.name.endswith("_test.py")
        or path.name == "conftest.py"
        or any(p in ("tests", "test") for p in path.parts[:-1])
    )


TOOLING = frozenset({"setup.py", "noxfile.py"})
"""Files at the top that a tool runs (packaging, nox), not modules of the code."""


def _is_tooling(rel: str) -> bool:
    """A build or task runner's file, or a Sphinx ``conf.py`` under docs/ (click's and
    sampleproject's audits listed docs/conf.py and noxfile.py as untested modules)."""
    path = PurePosixPath(rel)
    if len(path.parts) == 1 and path.name in TOOLING:
        return True
    return path.name == "conf.py" and any(p in ("doc", "docs") for p in path.parts[:-1])


def _imports(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def untested_modules(root: Path, files: Sequence[str]) -> list[str]:
    """Python modules (not tests, not ``__init__``) that no test file imports (by their
    dotted path or any dotted suffix of it, so ``src/pkg/mod.py`` is ``pkg.mod``)."""
    imported: set[str] = set()
    modules: dict[str, str] = {}
    for rel in files:
        if not rel.endswith(".py"):
            continue
        try:
            source = (root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if _is_test(rel):
            imported |= _imports(source)
            continue
        if rel.endswith("__init__.py") or _is_tooling(rel):
            continue
        modules[rel.removesuffix(".py").replace("/", ".")] = rel

    def tested(name: str) -> bool:  # by any dotted suffix: src/ layouts, nested projects
        parts = name.split(".")
        return any(".".join(parts[i:]) in imported for i in range(len(parts)))

    return sorted(rel for name, rel in modules.items() if not tested(name))


def numbered_sources(root: Path, files: Sequence[str], limit: int = 40000) -> str:
    """The Python sources with line numbers (what a code reviewer cites), bounded."""
    parts: list[str] = []
    used = 0
    for rel in files:
        if not rel.endswith(".py"):
            continue
        try:
            text = (root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        text = masked_for_model(rel, text)  # the reviewers are third-party models
        body = "\n".join(f"{n:4d} {line}" for n, line in enumerate(text.splitlines(), 1))
        block = f"### {rel}\n{body}\n"
        if used + len(block) > limit:
            parts.append(f"### {rel}\n(omitted: the sources exceed the review budget)\n")
            continue
        parts.append(block)
        used += len(block)
    return "\n".join(parts)


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


async def run_audit(
    *,
    run_id: str,
    request: str,
    repo: Path,
    commit: str,
    gates: Sequence[Gate],
    reviewers: Sequence[object],
    emit: EmitFn,
    repo_mapper: RepoMapper | None = None,
) -> AuditReport:
    """Run every gate and every code reviewer on a snapshot of ``repo``; the repository
    itself is only read."""
    scratch = scratch_folder()
    try:
        tree = snapshot(repo, scratch)
        files = sorted(checkout_files(tree))
        # A gate that judges a commit (shrinkage: what it deletes) has nothing to judge in
        # an audit: the snapshot's one commit is the factory's copy, not the user's change.
        tree_gates = [g for g in gates if not judges_revision(g)]
        results = await run_gates(tree_gates, tree, scope="verify", emit=emit)
        report = AuditReport(
            run_id=run_id,
            request=request,
            repo=str(repo),
            commit=commit,
            gates=[gate_entry(r) for r in results],
            untested_modules=untested_modules(tree, files),
        )
        report.dead_code = [
            f for r in results if r.gate == DEAD_CODE_GATE for f in r.findings[:100]
        ]
        code_reviewers = [r for r in reviewers if isinstance(r, CodeReviewer)]
        if code_reviewers:
            repo_map = repo_mapper(tree, files) if repo_mapper else "\n".join(files)
            sources = numbered_sources(tree, files)
            # A reviewer that fails is said in the report; the others' reviews and the
            # gates' findings are kept (the pipeline fails the run only if none reviewed).
            answers: list[ReviewReport | BaseException] = await asyncio.gather(
                *(r.review_code(request, repo_map, sources, emit) for r in code_reviewers),
                return_exceptions=True,
            )
            for reviewer, answer in zip(code_reviewers, answers, strict=True):
                if isinstance(answer, BaseException) and not isinstance(answer, Exception):
                    raise answer  # a cancellation, not a reviewer's failure
                if isinstance(answer, Exception):
                    why = str(answer).strip().splitlines()
                    report.review_failures.append(
                        f"{reviewer.reviewer_id}: {why[0] if why else type(answer).__name__}"
                    )
                    continue
                model = str(getattr(reviewer, "model", ""))
                emit(
                    ReviewScored(
                        reviewer=reviewer.reviewer_id,
                        model=model,
                        round=1,
                        score=answer.score,
                        findings=list(answer.findings),
                    )
                )
                report.reviews.append(
                    AuditReview(
                        reviewer=reviewer.reviewer_id,
                        model=model,
                        score=answer.score,
                        findings=[located(f) for f in answer.findings],
                    )
                )
        return report
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
