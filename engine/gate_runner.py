"""Running a list of gates on a workspace and reporting each result as an event."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from engine.events import GateFinished
from engine.protocols import EmitFn, Finding, Gate, GateResult


async def run_gates(
    gates: Sequence[Gate],
    workspace: Path,
    *,
    scope: Literal["task", "merge", "verify"],
    emit: EmitFn,
    task_id: str | None = None,
    attempt: int = 0,
) -> list[GateResult]:
    """Run every gate (all of them, so a retry sees every failure) and emit GateFinished.

    A gate that raises is reported as a failed result carrying the error, never lost.
    """
    results: list[GateResult] = []
    for gate in gates:
        started = time.monotonic()
        try:
            result = await gate.check(workspace)
        except Exception as exc:  # a broken gate fails its check; the run goes on
            result = GateResult(
                gate=gate.name,
                passed=False,
                summary=f"gate crashed: {type(exc).__name__}: {exc}",
                duration_s=time.monotonic() - started,
            )
        results.append(result)
        emit(
            GateFinished(
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
        )
    return results


def _located(finding: Finding) -> str:
    where = f"{finding.file}:{finding.line}: " if finding.file and finding.line else ""
    return (where + finding.message)[:300]


def failure_context(results: Sequence[GateResult]) -> str:
    """What the failed gates say, joined, for the next attempt's prompt."""
    return "\n\n".join(r.failure_context() for r in results if not r.passed)
