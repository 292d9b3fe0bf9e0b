"""Running a list of gates on a workspace and reporting each result as an event.

Gates that only read the tree (``reads_only = True``: linters, scanners, the shrinkage diff)
run beside each other; any other gate (the tests, a custom command, which may write files a
later gate reads) waits for the gates before it and holds back the ones after it. Results and
events keep the list's order either way.

While a list runs, :data:`CURRENT_RUN` says how far it got (:class:`GateRun`): a layer around
the gates (the gate cache, ``gates.cache``) may keep what it read of the workspace for the
gates after it, as long as none of the gates before them ran.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from engine.events import GateFinished
from engine.protocols import EmitFn, Finding, Gate, GateResult

PARALLEL_GATES = 4
"""At most this many read-only gates of one list run at once."""


@dataclass
class GateRun:
    """One :func:`run_gates` call under way, as its gates' checks see it."""

    ran: int = 0
    """Batches finished in which a gate ran: a result not taken from a cache (a crash too).
    While it stays the same, nothing but the gates' reading touched the workspace."""
    kept: dict[object, object] = field(default_factory=dict)
    """What the layers around the gates keep for this call, each under a key of its own."""


CURRENT_RUN: ContextVar[GateRun | None] = ContextVar("gate_run", default=None)
"""The :func:`run_gates` call a gate is checked in (None outside one)."""


def reads_only(gate: Gate) -> bool:
    """True for a gate that may run beside others: it reads the tree and writes nothing
    another gate reads (``reads_only``; a gate that does not say is run alone)."""
    return bool(getattr(gate, "reads_only", False))


def batches(gates: Sequence[Gate]) -> list[list[Gate]]:
    """The gates in order, grouped: each run of read-only gates together, every other gate
    alone."""
    groups: list[list[Gate]] = []
    for gate in gates:
        if reads_only(gate) and groups and reads_only(groups[-1][0]):
            groups[-1].append(gate)
        else:
            groups.append([gate])
    return groups


async def _checked(gate: Gate, workspace: Path, slots: asyncio.Semaphore) -> GateResult:
    async with slots:
        started = time.monotonic()
        try:
            return await gate.check(workspace)
        except Exception as exc:  # a broken gate fails its check; the run goes on
            return GateResult(
                gate=gate.name,
                passed=False,
                summary=f"gate crashed: {type(exc).__name__}: {exc}",
                duration_s=time.monotonic() - started,
            )


async def run_gates(
    gates: Sequence[Gate],
    workspace: Path,
    *,
    scope: Literal["task", "merge", "verify"],
    emit: EmitFn,
    task_id: str | None = None,
    attempt: int = 0,
    parallel: int = PARALLEL_GATES,
) -> list[GateResult]:
    """Run every gate (all of them, so a retry sees every failure) and emit GateFinished.

    A gate that raises is reported as a failed result carrying the error, never lost.
    """
    results: list[GateResult] = []
    slots = asyncio.Semaphore(max(1, parallel))
    run = GateRun()
    token = CURRENT_RUN.set(run)  # the checks' tasks copy this context: they share ``run``
    try:
        for group in batches(gates):
            async with asyncio.TaskGroup() as running:
                checks = [running.create_task(_checked(g, workspace, slots)) for g in group]
                for check in checks:  # in order: each as soon as it and those before are done
                    result = await check
                    results.append(result)
                    emit(_finished(result, scope, task_id, attempt))
            if not all(r.cached for r in results[-len(group) :]):
                run.ran += 1
    finally:
        CURRENT_RUN.reset(token)
    return results


def _finished(
    result: GateResult, scope: Literal["task", "merge", "verify"], task_id: str | None, attempt: int
) -> GateFinished:
    return GateFinished(
        gate=result.gate,
        scope=scope,
        task_id=task_id,
        attempt=attempt,
        passed=result.passed,
        summary=result.summary,
        duration_s=result.duration_s,
        counts=dict(result.counts),
        findings=[_located(f) for f in result.findings[:10]],
        output_tail=result.output_tail[-4000:],
        cached=result.cached,
    )


def _located(finding: Finding) -> str:
    where = f"{finding.file}:{finding.line}: " if finding.file and finding.line else ""
    return (where + finding.message)[:300]


def failure_context(results: Sequence[GateResult], worktrees: Path | None = None) -> str:
    """What the failed gates say, joined, for the next attempt's prompt.

    With ``worktrees`` (the folder the run's worktrees are made in), a path into any of its
    worktrees is said from that worktree's top (``tests/test_x.py``): the next attempt works
    in a new worktree, and a tool's absolute paths (pytest's import errors, say, or a result
    the gate cache replays from another worktree) would name files it cannot open."""
    text = "\n\n".join(r.failure_context() for r in results if not r.passed)
    if worktrees is None:
        return text
    roots = {str(worktrees), str(worktrees.resolve())}
    inside = "|".join(re.escape(root) for root in sorted(roots, key=len, reverse=True))
    return re.sub(rf"(?:{inside})/[^/\s'\"]+/", "", text)
