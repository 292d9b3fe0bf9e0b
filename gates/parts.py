"""In a repository of two languages, which gates a change concerns, and which files a gate's
verdict is keyed on.

A Python project with a Node front end below it (``web/``) gets both profiles. A task that
changed only Python files ran the front end's tests and linter too, and one that changed
only ``web/`` ran pytest, ruff, vulture and bandit; the gate cache, keyed on the whole tree,
reused no verdict from one task to the next. Each gate now belongs to a :class:`Part` —
``python`` or ``node`` — which says what files it reads:

* the Python gates read every Python file and everything outside the Node packages;
* the Node gates read everything but the Python files outside the Node packages (a front
  end may import a shared file from anywhere, extend a top-level config, read a lockfile).

So a change to a top-level file, a shared config or a lockfile concerns both; a Python
module concerns only the Python gates; a file of ``web/`` only the Node gates. At a task's
step, :class:`ScopedGate` runs its gate only when the task changed something the part
reads (against ``HEAD~1``, the task's base); the merge, verify, baseline and audit steps run
every gate. Every step's verdict is cached on the part's own files (:func:`part_tree_key`),
so the Node gates' verdict on an unchanged front end is reused across Python tasks.

Scoping applies only where both profiles are found and every Node package lies below the
top (a package at the top owns every file: nothing to tell apart).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.attempt_commit import JUNK_PATHSPECS
from engine.protocols import Gate, GateResult
from engine.repo_guard import git_run

PYTHON_SUFFIXES = (".py", ".pyi", ".pyw")
NODE_GATES = frozenset({"node-test", "node-lint"})
"""The gates of the Node profile; every other profile gate is the Python project's."""


@dataclass(frozen=True)
class Part:
    """One language's share of a two-language repository: what its gates read."""

    name: str
    """``python`` or ``node``."""
    packages: tuple[str, ...]
    """The Node package folders (below the top), as ``gates.node_packages`` finds them."""

    def _in_package(self, path: str) -> bool:
        return any(path.startswith(f"{folder}/") for folder in self.packages)

    def reads(self, path: str) -> bool:
        """Whether a gate of this part may read ``path`` (a repository path)."""
        python = path.endswith(PYTHON_SUFFIXES)
        if self.name == "python":
            return python or not self._in_package(path)
        return self._in_package(path) or not python

    def elsewhere(self) -> str:
        """What a change this part does not read touched, for a skipped gate's summary."""
        if self.name == "python":
            return "only the Node package(s) " + ", ".join(f"{p}/" for p in self.packages)
        return "only Python files outside the Node package(s)"


def parts_for(profiles: Sequence[str], packages: Sequence[str]) -> dict[str, Part] | None:
    """Each part of a repository of both profiles, by name; None where there is nothing to
    tell apart (one profile, or a Node package at the top)."""
    if "python" not in profiles or "node" not in profiles or not packages or "." in packages:
        return None
    folders = tuple(packages)
    return {name: Part(name, folders) for name in ("python", "node")}


def part_of(gate_name: str) -> str:
    """The part a profile gate belongs to."""
    return "node" if gate_name in NODE_GATES else "python"


def _git_out(workspace: Path, *args: str) -> str | None:
    done = git_run(workspace, *args)
    return done.stdout if done.returncode == 0 else None


def part_tree_key(workspace: Path, part: Part) -> str | None:
    """A hash of the committed files ``part`` reads (mode, blob and path); None when the
    checkout has uncommitted changes or is no git checkout (then the whole tree is the key)."""
    status = _git_out(
        workspace, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignored",
        "--", ".", *JUNK_PATHSPECS,
    )  # fmt: skip
    if status is None or status:
        return None
    listing = _git_out(workspace, "ls-tree", "-r", "-z", "--full-tree", "HEAD")
    if listing is None:
        return None
    digest = hashlib.sha256(f"part:{part.name}\0".encode())
    for entry in listing.split("\0"):
        _, _, path = entry.partition("\t")
        if path and part.reads(path):
            digest.update(entry.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


def changed_paths(workspace: Path, since: str) -> list[str] | None:
    """Every path added, modified, deleted or left untracked in ``workspace`` against
    ``since``; None when git cannot tell (no such revision)."""
    diff = _git_out(workspace, "diff", "--name-only", "-z", "--no-renames", since, "--", ".")
    others = _git_out(workspace, "ls-files", "-z", "--others", "--exclude-standard")
    if diff is None or others is None:
        return None
    return sorted({p for p in (diff + others).split("\0") if p})


class ScopedGate:
    """A task's gate that runs only when the task changed a file its :class:`Part` reads.

    Implements ``engine.protocols.Gate``. A skipped check passes, saying so; it is never
    cached (the gate it wraps is, on the part's files). It judges a revision (its base is
    ``HEAD~1``), so a baseline or an audit takes :attr:`tree_gate`, the gate itself.
    """

    judges_revision = True

    def __init__(self, gate: Gate, part: Part, since: str = "HEAD~1") -> None:
        self.inner = gate
        self.part = part
        self.since = since
        self.name = gate.name
        self.tree_gate = gate
        """The gate on the whole tree, whatever changed (``engine.audit.tree_gates``)."""

    def __getattr__(self, name: str) -> Any:
        # reads_only, rerun, runs_on...: the wrapped gate's (engine.gate_runner asks).
        return getattr(self.inner, name)

    async def check(self, workspace: Path) -> GateResult:
        """The wrapped gate's verdict, or a pass when nothing it reads changed."""
        started = time.monotonic()
        changed = await asyncio.to_thread(changed_paths, workspace, self.since)
        if not changed or any(self.part.reads(path) for path in changed):
            return await self.inner.check(workspace)
        return GateResult(
            gate=self.name,
            passed=True,
            summary=f"not run: the task changed {self.part.elsewhere()}, which it does not read",
            counts={"changed": len(changed)},
            duration_s=time.monotonic() - started,
        )
