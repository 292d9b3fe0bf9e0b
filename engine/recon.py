"""Recon of an existing repository: which mode a run takes, and what was green before it.

An update run must not break what already works. Before it plans, the factory runs the merge
gates on the repository as it is (the *baseline*) and tells the planner which were green. Every
task and merge gate is then wrapped in a :class:`BaselineGate`: a gate that was green at
baseline and is red after a task fails with "you broke X that was green before". A gate that
was already red at baseline (a repository with 200 lint errors, a test that already failed)
blocks only what is new: findings the baseline did not have, compared by file and message (a
test by its node id), never by line number, which any edit above shifts, and under the name
a file had at baseline (a task that moves ``app.py`` to ``totals.py`` takes its old problems
along, which are not new). What was already
there reports but does not block (the run did not cause it, and no task could ever merge
otherwise). A gate whose verdict is about the run's own commit (shrinkage: what the revision
deletes) has no baseline: run on the base commit it would judge the user's last commit.

Mode detection is a pure function of the tracked files: a repository holding only a README,
a licence and configuration is empty (``create``); anything else is ``update``.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from engine.gate_runner import run_gates
from engine.protocols import EmitFn, Finding, Gate, GateResult
from engine.repo_guard import git_run

Mode = Literal["create", "update", "audit"]
MODES: tuple[Mode, ...] = ("create", "update", "audit")

RepoMapper = Callable[[Path, Sequence[str]], str]
"""Builds the repo map of a checkout from its file list (agents/context.repo_map)."""

_CONFIG_SUFFIXES = frozenset({".toml", ".cfg", ".ini", ".yaml", ".yml", ".json", ".txt", ".md"})
_CONFIG_NAMES = frozenset({".gitignore", ".gitattributes", ".editorconfig", "makefile"})


def is_boilerplate(path: str) -> bool:
    """A README, licence or configuration file: what an empty project already has."""
    name = PurePosixPath(path).name.lower()
    if name.startswith(("readme", "license", "licence", "changelog", "copying")):
        return True
    if name in _CONFIG_NAMES:
        return True
    return "/" not in path and PurePosixPath(name).suffix in _CONFIG_SUFFIXES


def detect_mode(tracked: Sequence[str], sizes: Mapping[str, int] | None = None) -> Mode:
    """``create`` when every tracked file is boilerplate (or empty, given ``sizes``), else
    ``update``. Audit is never detected: it is asked for."""
    for path in tracked:
        if is_boilerplate(path):
            continue
        if sizes is not None and sizes.get(path, 1) == 0:
            continue
        return "update"
    return "create"


def detect_repo_mode(repo: Path, tracked: Sequence[str]) -> Mode:
    """:func:`detect_mode` with the sizes of the files in the checkout at ``repo``."""
    sizes: dict[str, int] = {}
    for rel in tracked:
        try:
            sizes[rel] = (repo / rel).stat().st_size
        except OSError:
            sizes[rel] = 1
    return detect_mode(tracked, sizes)


@dataclass(frozen=True)
class Baseline:
    """Which gates were green on the repository before the run changed anything."""

    results: tuple[GateResult, ...] = ()
    commit: str = ""
    """The commit the gates ran on ("" unknown): files moved since are followed."""

    @property
    def green(self) -> list[str]:
        return [r.gate for r in self.results if r.passed]

    @property
    def red(self) -> list[str]:
        return [r.gate for r in self.results if not r.passed]

    def result(self, gate: str) -> GateResult | None:
        """The gate's result at baseline; None for one that was not run."""
        for result in self.results:
            if result.gate == gate:
                return result
        return None

    def was_green(self, gate: str) -> bool | None:
        """True/False for a gate run at baseline; None for one that was not run."""
        result = self.result(gate)
        return None if result is None else result.passed

    def describe(self) -> str:
        """One paragraph for the planner."""
        green = ", ".join(self.green) or "none"
        red = ", ".join(f"{r.gate} ({r.summary})" for r in self.results if not r.passed)
        text = f"Gates green at baseline (they must stay green): {green}."
        return text + (f" Already red before this run: {red}." if red else "")


def judges_revision(gate: Gate) -> bool:
    """True for a gate whose verdict is about a commit, not a tree (``judges_revision``)."""
    return bool(getattr(gate, "judges_revision", False))


async def run_baseline(gates: Sequence[Gate], checkout: Path, emit: EmitFn) -> Baseline:
    """Run ``gates`` on an untouched checkout of the base commit (reported as verify gates
    of no task, attempt 0). A gate that judges a revision is left out: at the base commit
    the revision is the user's own last commit, and the run has made none yet."""
    tree_gates = [g for g in gates if not judges_revision(g)]
    results = await run_gates(tree_gates, checkout, scope="verify", emit=emit)
    head = await asyncio.to_thread(git_run, checkout, "rev-parse", "--verify", "HEAD")
    return Baseline(tuple(results), head.stdout.strip() if head.returncode == 0 else "")


def moved_files(workspace: Path, commit: str) -> dict[str, str]:
    """``{path at commit: path now}`` for each file renamed between ``commit`` and the
    workspace's HEAD (git's rename detection); empty when git cannot tell."""
    done = git_run(workspace, "diff", "--name-status", "-M", "-z", commit, "HEAD", "--")
    if done.returncode != 0:
        return {}
    fields = done.stdout.split("\0")
    moved: dict[str, str] = {}
    i = 0
    while i < len(fields) and fields[i]:
        status = fields[i]
        if status[:1] in ("R", "C") and i + 2 < len(fields):
            if status[0] == "R":
                moved[fields[i + 1]] = fields[i + 2]
            i += 3
        else:
            i += 2
    return moved


def _moved(finding: Finding, moved: Mapping[str, str]) -> Finding:
    """``finding`` as it reads once its file got the name it has now."""
    update: dict[str, str] = {}
    if finding.file is not None and finding.file in moved:
        update["file"] = moved[finding.file]
        update["message"] = finding.message.replace(finding.file, moved[finding.file])
    path, sep, rest = (finding.key or "").partition("::")
    if path in moved:
        update["key"] = moved[path] + sep + rest
    return finding.model_copy(update=update) if update else finding


_NUMBERS = re.compile(r"0x[0-9a-fA-F]+|\d+")


def _identity(finding: Finding) -> tuple[str, str]:
    """What names a finding on another tree: its key, or its message with the numbers
    taken out (line and column numbers, counts, timings and addresses shift with any edit)."""
    if finding.key:
        return "", finding.key
    return finding.file or "", _NUMBERS.sub("#", finding.message)


def _blocking(result: GateResult) -> tuple[list[Finding], int]:
    """The findings that fail the gate as it kept them, and how many it counted.

    A gate with advisory findings counts its blocking ones (``counts["blocking"]``) and lists
    them first; a gate keeps at most a few hundred findings, so the count may be larger.
    """
    counts = result.counts
    total = max(counts.get("blocking", counts.get("findings", len(result.findings))), 0)
    return list(result.findings[:total]), total


def new_findings(
    before: GateResult, after: GateResult, moved: Mapping[str, str] | None = None
) -> list[Finding] | None:
    """The blocking findings of ``after`` that ``before`` did not have (each old finding
    excuses one new one of the same identity, its file under the name ``moved`` gives it
    now); None when that cannot be told because the baseline kept only part of its
    findings."""
    old_kept, old_total = _blocking(before)
    if old_total > len(old_kept):
        return None
    old = Counter(_identity(_moved(f, moved or {})) for f in old_kept)
    new: list[Finding] = []
    for finding in _blocking(after)[0]:
        identity = _identity(finding)
        if old[identity] > 0:
            old[identity] -= 1
        else:
            new.append(finding)
    return new


@dataclass
class BaselineGate:
    """Wraps a gate so that only regressions against the baseline block."""

    inner: Gate
    baseline: Baseline
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.inner.name

    @property
    def reads_only(self) -> bool:
        """The inner gate's: whether it may run beside others (``engine.gate_runner``)."""
        return bool(getattr(self.inner, "reads_only", False))

    async def check(self, workspace: Path) -> GateResult:
        result = await self.inner.check(workspace)
        before = self.baseline.result(self.name)
        if result.passed or before is None:
            return result
        if before.passed:
            failing = _blocking(result)[0]
            flaky = await self._flaky(workspace, failing)
            if flaky and all(f.key in flaky for f in failing):
                return result.model_copy(
                    update={
                        "passed": True,
                        "summary": f"{_flaky_note(flaky)}: {result.summary}",
                        "findings": [f for f in result.findings if f.key not in flaky],
                    }
                )
            note = f" ({_flaky_note(flaky)})" if flaky else ""
            return result.model_copy(
                update={
                    "summary": f"you broke {self.name}, which was green before this run{note}: "
                    f"{result.summary}",
                    "findings": [f for f in result.findings if f.key not in flaky],
                }
            )
        moved = (
            await asyncio.to_thread(moved_files, workspace, self.baseline.commit)
            if self.baseline.commit
            else {}
        )
        new = new_findings(before, result, moved)
        flaky = await self._flaky(workspace, new or [])
        if flaky and new is not None:
            new = [f for f in new if f.key not in flaky]
            result = result.model_copy(
                update={
                    "summary": f"{result.summary} ({_flaky_note(flaky)})",
                    "findings": [f for f in result.findings if f.key not in flaky],
                    "counts": {**result.counts, "flaky": len(flaky)},
                }
            )
        kept, total = _blocking(result)
        if new is None or (not new and total > len(kept)):
            # Too many findings to tell the new ones apart: more than at baseline is new.
            baseline_total = _blocking(before)[1]
            if total > baseline_total:
                summary = (
                    f"{total} problem(s) where the baseline had {baseline_total}; the new "
                    f"ones must go: {result.summary}"
                )
                return result.model_copy(update={"summary": summary})
        elif new:
            summary = (
                f"{len(new)} new problem(s) since the baseline, which must go "
                f"({len(kept) - len(new)} already there before this run do not block): "
                f"{result.summary}"
            )
            return result.model_copy(update={"summary": summary, "findings": new})
        return result.model_copy(
            update={
                "passed": True,
                "summary": "red at baseline, not blocking (nothing new since the baseline): "
                f"{result.summary}",
            }
        )

    async def _flaky(self, workspace: Path, failing: Sequence[Finding]) -> list[str]:
        """The tests among ``failing`` that pass when run again: flaky, not the run's doing.

        Only tests the inner gate can run again (it has ``rerun``) whose file is as it was
        at baseline: a test the run wrote or changed that fails now and then is the run's,
        and blocks. Nothing is excused when a failure is not a test's (a crash, a timeout)."""
        rerun = getattr(self.inner, "rerun", None)
        if rerun is None or not failing or not self.baseline.commit:
            return []
        if any(f.key is None for f in failing):
            return []
        keys = await asyncio.to_thread(
            _unchanged, workspace, self.baseline.commit, [f.key for f in failing if f.key]
        )
        if not keys:
            return []
        again: GateResult = await rerun(workspace, keys)
        if any(f.key is None for f in again.findings):
            return []  # it crashed or timed out: nothing is told flaky
        still = {f.key for f in again.findings}
        return [key for key in dict.fromkeys(keys) if key not in still]


def _unchanged(workspace: Path, commit: str, keys: Sequence[str]) -> list[str]:
    """The test ids of ``keys`` whose file is in ``commit`` and unchanged in the workspace."""
    kept: list[str] = []
    verdicts: dict[str, bool] = {}
    for key in dict.fromkeys(keys):
        rel = key.partition("::")[0]
        if rel not in verdicts:
            there = git_run(workspace, "cat-file", "-e", f"{commit}:{rel}").returncode == 0
            same = git_run(workspace, "diff", "--quiet", commit, "--", rel).returncode == 0
            verdicts[rel] = there and same
        if verdicts[rel]:
            kept.append(key)
    return kept


def _flaky_note(flaky: Sequence[str]) -> str:
    shown = ", ".join(flaky[:3]) + (f" and {len(flaky) - 3} more" if len(flaky) > 3 else "")
    return (
        f"flaky, not blocking: {shown} failed, then passed when run again, "
        "in a file the run did not change"
    )


def guard(gates: Sequence[Gate], baseline: Baseline | None) -> list[Gate]:
    """``gates`` wrapped against ``baseline`` (unchanged when there is none)."""
    if baseline is None:
        return list(gates)
    return [BaselineGate(g, baseline) for g in gates]


MAP_HEADING = "Repository map (file: symbols):"
"""The line in recon's notes the repository map follows."""


def recon_notes(repo_map: str, baseline: Baseline, limit: int = 200_000) -> str:
    """What the planner of an update run is told about the code it changes."""
    body = repo_map if len(repo_map) <= limit else repo_map[:limit] + "\n... [map truncated]"
    return (
        "UPDATE MODE: this repository already has code. Plan a delta: change only what the "
        "request needs, reuse the existing modules, and keep every gate that is green now "
        f"green.\n{baseline.describe()}\n{MAP_HEADING}\n{body}"
    )
