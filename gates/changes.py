"""Gates whose tool judges each file on its own may read only what a revision changed.

A scanner that looks at one file at a time (detect-secrets, bandit) finds in a task's tree
only what it found at the task's base plus what the task's changed files bring. At a task's
gates that is the question, and on a real repository it is a few files instead of
thousands: the gate built with ``since`` (``on_changes()``: the task's base, ``HEAD~1``) reads
the files changed against it. Such a gate judges a revision, like the shrinkage gate: the
baseline of an update run and audits take the whole-tree gate of the same name (the verify
step's). Its cache key holds the base's tree (``cache_context``, see gates.cache).
"""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Sequence
from pathlib import Path

from engine.attempt_commit import JUNK_PATHSPECS
from engine.protocols import GateResult
from engine.repo_guard import git_run
from gates.revision_tree import revision_tree
from gates.tool_gate import ToolGate

MAX_LISTED_FILES = 2000
"""A revision changing more files than this is scanned whole (the command line stays short)."""
TEXT_SNIFF_BYTES = 8000
"""How much of an untracked file is read to tell text from binary (git's own measure)."""
SKIPPED = re.compile(
    r"(^|/)(\.git|\.venv|venv|node_modules|\.shopfloor|__pycache__|\.mypy_cache|"
    r"\.ruff_cache|\.pytest_cache)/"
)
"""Tool caches, virtualenvs and vendored trees: never a revision's own files."""


def changed_text_files(workspace: Path, since: str) -> list[str] | None:
    """The text files of ``workspace`` that differ from ``since``: added, modified or
    retyped (``git diff``: what its numstat does not call binary) and untracked ones git
    does not ignore; tool caches, vendored trees and symlinks left out (a link is its
    target's second name: one inside is listed when it changed, and one outside is not the
    revision's file to read). None when ``since`` is not a revision of the workspace or git
    cannot tell."""
    diff = git_run(
        workspace,
        "diff",
        "--numstat",
        "-z",
        "--no-renames",
        "--no-ext-diff",
        "--no-textconv",
        "--diff-filter=AMT",
        since,
        "--",
        ".",
        *JUNK_PATHSPECS,
    )
    others = git_run(
        workspace, "ls-files", "-z", "--others", "--exclude-standard", "--", ".", *JUNK_PATHSPECS
    )
    if diff.returncode != 0 or others.returncode != 0:
        return None
    files: list[str] = []
    for record in diff.stdout.split("\0"):
        added, _, rest = record.partition("\t")
        _deleted, _, path = rest.partition("\t")
        if path and added != "-":  # "-": a binary file
            files.append(path)
    for path in others.stdout.split("\0"):
        if not path or (workspace / path).is_symlink():
            continue
        try:
            with (workspace / path).open("rb") as handle:
                if b"\0" in handle.read(TEXT_SNIFF_BYTES):
                    continue
        except OSError:
            continue
        files.append(path)
    return sorted(
        p
        for p in set(files)
        if not SKIPPED.search(p) and not (workspace / p).is_symlink() and (workspace / p).is_file()
    )


class ChangeScanGate(ToolGate):
    """A :class:`ToolGate` whose tool judges each file alone, so that it can scan the files a
    revision changed (``since``) instead of the whole tree. Subclasses implement
    :meth:`argv_for` and may narrow :meth:`wants`."""

    since: str | None = None
    """Scan only the files changed against this revision; None: the whole tree."""
    judges_revision = False

    def on_changes(self, since: str = "HEAD~1") -> ChangeScanGate:
        """This gate, reading only what a revision changed against ``since``."""
        twin = copy.copy(self)
        twin.since = since
        twin.judges_revision = True  # a scan of a revision's changes has no baseline
        return twin

    def wants(self, path: str) -> bool:
        """Whether the whole-tree scan would read ``path`` (a changed text file)."""
        return True

    def argv_for(self, workspace: Path, files: Sequence[str] | None) -> list[str]:
        """The command scanning ``files`` (repository paths), or the whole tree for None."""
        raise NotImplementedError

    def argv(self, workspace: Path) -> list[str]:
        return self.argv_for(workspace, None)

    async def cache_context(self, workspace: Path) -> str | None:
        """What decides the verdict beside the tree: for a scan of the changes, the tree of
        the revision they are taken against (see gates.cache)."""
        if self.since is None:
            return "whole tree"
        return await revision_tree(workspace, self.since)

    async def check(self, workspace: Path) -> GateResult:
        """Scan the whole tree, or (``since``) the files changed against ``since``; the
        whole tree when that revision is unknown or the change is very large."""
        if self.since is None:
            return await super().check(workspace)
        started = time.monotonic()
        changed = await asyncio.to_thread(changed_text_files, workspace, self.since)
        files = None if changed is None else [p for p in changed if self.wants(p)]
        if files is None or len(files) > MAX_LISTED_FILES:
            return await self.run_tool(workspace, self.argv_for(workspace, None), started)
        if not files:
            return GateResult(
                gate=self.name,
                passed=True,
                summary=f"clean: no file it reads changed since {self.since}",
                counts={"findings": 0, "blocking": 0, "scanned": 0},
                duration_s=time.monotonic() - started,
            )
        result = await self.run_tool(workspace, self.argv_for(workspace, files), started)
        return result.model_copy(update={"counts": {**result.counts, "scanned": len(files)}})
