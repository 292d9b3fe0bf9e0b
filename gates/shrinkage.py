"""The shrinkage safety gate (seed 004): a revision that deletes most of what it touches is refused.

An agent that cannot make a test pass sometimes "fixes" it by deleting the code, the test, or
both. Diffs like that look small in a summary and are easy to wave through. This gate compares
the workspace's HEAD with its base (a commit given at construction, else ``HEAD~1``), counts
the lines the revision deletes from the files it touches and the lines those files had, and
refuses the revision when the share is above ``max_share`` — with the numbers, per file.
Renames are followed, so moving a file is not a deletion. Small edits (fewer than
``min_deleted`` deleted lines) are never refused: removing 3 of 4 lines of a stub is normal.

A deletion the task was asked for ("remove the deprecated module X") is not counted: the
planner names those files or folders in the task (``Task.removes``), the factory writes them
into the revision's commit message as trailers (``engine.build.commit_message``), and the
gate leaves their lines out of both numbers. What else the revision deletes is judged as
always, so an unexpected mass deletion beside a declared one is still refused.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.build import removals_in_message
from engine.protocols import Finding, GateResult, Sandbox
from engine.repo_guard import git_run
from gates.revision_tree import revision_tree
from gates.tool_gate import fingerprint_of


@dataclass(frozen=True)
class FileChange:
    """Lines one file lost in the revision, and how many it had at the base."""

    path: str
    deleted: int
    base_lines: int


def parse_numstat_z(text: str) -> list[tuple[int, str]]:
    """``(deleted, base_path)`` per file from ``git diff --numstat -z -M`` (binary skipped)."""
    changes: list[tuple[int, str]] = []
    fields = text.split("\0")
    i = 0
    while i < len(fields):
        record = fields[i]
        i += 1
        if not record.strip():
            continue
        parts = record.split("\t")
        if len(parts) < 3:
            continue
        _added, deleted, path = parts[0], parts[1], parts[2]
        if path == "":  # a rename: the old and new paths follow as two fields
            path = fields[i] if i < len(fields) else ""
            i += 2
        if deleted == "-" or not path:
            continue
        changes.append((int(deleted), path.strip("\n")))
    return changes


def parse_grep_counts(text: str, base: str) -> dict[str, int]:
    """``{path: lines}`` from ``git grep -I -c '' <base> -- paths``."""
    counts: dict[str, int] = {}
    prefix = f"{base}:"
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue
        path, _, number = line[len(prefix) :].rpartition(":")
        if path and number.isdigit():
            counts[path] = int(number)
    return counts


def declared_paths(message: str) -> list[str]:
    """The folders and files a revision's commit message declares removed on purpose, as
    repository paths (``./`` and trailing slashes dropped; the repository itself never)."""
    found = []
    for raw in removals_in_message(message):
        path = raw.replace("\\", "/").strip()
        while path.startswith("./"):
            path = path[2:]
        path = path.rstrip("/")
        if path and path != ".":
            found.append(path)
    return found


def is_declared(path: str, declared: list[str]) -> bool:
    """True when ``path`` is one of ``declared`` or inside one of them."""
    return any(path == d or path.startswith(f"{d}/") for d in declared)


class ShrinkageGate:
    """Implements ``engine.protocols.Gate``: refuse a revision that deletes too much.

    Its verdict depends on the base commit's tree and the commit's declared removals beside
    the tree: :meth:`cache_context` gives them to the gate cache (``gates.cache``).
    """

    judges_revision = True
    """No baseline: on the base commit it would judge the user's own last commit."""
    reads_only = True  # git diff and git grep of commits

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        name: str = "shrinkage",
        max_share: float = 0.5,
        min_deleted: int = 20,
        base: str | None = None,
        timeout_s: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if not 0.0 < max_share <= 1.0:
            raise ValueError(f"gate {name!r}: max_share must be in (0, 1], got {max_share}")
        if min_deleted < 0:
            raise ValueError(f"gate {name!r}: min_deleted must be >= 0, got {min_deleted}")
        self.name = name
        self.sandbox = sandbox
        self.max_share = max_share
        self.min_deleted = min_deleted
        self.base = base
        self.timeout_s = timeout_s
        self.env = dict(env or {})

    def fingerprint(self) -> str:
        """The gate's configuration, hashed (see gates.cache)."""
        return fingerprint_of(
            "ShrinkageGate", self.name, self.max_share, self.min_deleted, self.base
        )

    async def cache_context(self, workspace: Path) -> str | None:
        """What decides the verdict beside the workspace's tree: the base's tree and the
        paths HEAD's message declares removed; None when git cannot say."""
        # No base (a root commit): the verdict is "no base commit", whatever the tree.
        base_tree = await revision_tree(workspace, self.base or "HEAD~1")
        if base_tree is None:
            return None
        message = await asyncio.to_thread(git_run, workspace, "log", "-1", "--format=%B", "HEAD")
        if message.returncode != 0:
            return None
        return json.dumps([base_tree, sorted(declared_paths(message.stdout))])

    async def _git(self, workspace: Path, *args: str) -> tuple[int, str]:
        result = await self.sandbox.run(
            ["git", "-c", "core.quotepath=off", *args],
            workspace,
            timeout_s=self.timeout_s,
            env=self.env or None,
        )
        return result.returncode, result.output

    async def measure(self, workspace: Path) -> list[FileChange] | str:
        """The files the revision touches with their numbers, or why they cannot be read."""
        base = self.base or "HEAD~1"
        code, out = await self._git(
            workspace, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"
        )
        if code != 0:
            return f"no base commit {base!r} to compare with"
        base_sha = out.strip().splitlines()[-1]
        code, out = await self._git(
            workspace, "diff", "--numstat", "-z", "-M", "--no-ext-diff", base_sha, "HEAD"
        )
        if code != 0:
            return f"git diff failed: {out.strip()[:200]}"
        deleted = parse_numstat_z(out)
        if not deleted:
            return []
        paths = sorted({path for _, path in deleted})
        code, out = await self._git(workspace, "grep", "-I", "-c", "", base_sha, "--", *paths)
        if code not in (0, 1):
            return f"git grep failed: {out.strip()[:200]}"
        lines = parse_grep_counts(out, base_sha)
        return [FileChange(path, n, lines.get(path, 0)) for n, path in deleted]

    async def message(self, workspace: Path) -> str:
        """The commit message of the revision (empty when git cannot say)."""
        code, out = await self._git(workspace, "log", "-1", "--format=%B", "HEAD")
        return out if code == 0 else ""

    async def check(self, workspace: Path) -> GateResult:
        """Pass unless the revision deletes more than ``max_share`` of the lines it touches."""
        started = time.monotonic()
        measured = await self.measure(workspace)
        duration = time.monotonic() - started
        if isinstance(measured, str):
            passed = measured.startswith("no base commit")
            return GateResult(
                gate=self.name,
                passed=passed,
                summary=measured if passed else f"cannot measure the revision: {measured}",
                findings=[] if passed else [Finding(message=measured)],
                duration_s=duration,
            )
        declared = declared_paths(await self.message(workspace)) if measured else []
        excused = [c for c in measured if is_declared(c.path, declared)]
        measured = [c for c in measured if not is_declared(c.path, declared)]
        deleted = sum(c.deleted for c in measured)
        touched = sum(c.base_lines for c in measured)
        share = deleted / touched if touched else 0.0
        counts = {"deleted": deleted, "touched_lines": touched, "files": len(measured)}
        numbers = (
            f"deletes {deleted} of the {touched} lines ({share:.0%}) in the "
            f"{len(measured)} file(s) it touches"
            if deleted
            else f"deletes nothing ({len(measured)} file(s) touched)"
        )
        if excused:
            removed = sum(c.deleted for c in excused)
            counts["declared_deleted"] = removed
            numbers += (
                f"; {removed} line(s) deleted in the {len(excused)} file(s) the task removes "
                f"on purpose ({', '.join(declared)}) not counted"
            )
        if deleted < self.min_deleted or share <= self.max_share:
            return GateResult(
                gate=self.name,
                passed=True,
                summary=numbers,
                counts=counts,
                duration_s=duration,
            )
        worst = sorted(measured, key=lambda c: c.deleted, reverse=True)
        findings = [
            Finding(
                message=f"revision {numbers}; the limit is {self.max_share:.0%}. Deleting code "
                "is not a fix: restore it or explain the removal in the task"
            ),
            *(
                Finding(
                    message=f"{c.deleted} of {c.base_lines} lines deleted"
                    + (" (file removed)" if c.deleted >= c.base_lines > 0 else ""),
                    file=c.path,
                    line=1,
                )
                for c in worst[:20]
                if c.deleted
            ),
        ]
        return GateResult(
            gate=self.name,
            passed=False,
            summary=f"refused: {numbers} (limit {self.max_share:.0%})",
            score=round(share, 3),
            counts=counts,
            findings=findings,
            duration_s=duration,
        )
