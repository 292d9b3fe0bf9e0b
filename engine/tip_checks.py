"""The checks of the whole change on the integration tip, after the build: code QC, then
verification (the verify gates, the verifier trying to break it, the judge's checklist).

Each is a stage of :class:`~engine.pipeline.Factory`'s loop, kept out of the loop object: it
takes what it needs (the bus, the budget, the workspaces, its roles and gates) and emits its
events. A check that passed on the same tip before a restart is said, not run again
(:func:`engine.resume.qc_passed_on`, :func:`engine.resume.verified_on`). A failure ends the run
with a one-line :class:`~engine.stages.StageFailed`.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.blueprint import Blueprint
from engine.budget import BudgetTracker
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.events import AgentOutput, QCScored, Stage, StageChanged, VerificationFinished
from engine.gate_runner import run_gates
from engine.protocols import Gate
from engine.recon import Baseline, guard
from engine.resume import qc_passed_on, verified_on
from engine.roles import CodeQC, Judge, Verifier, VerifierReport
from engine.secret_files import mask_diff
from engine.stages import StageFailed, checklist_share, one_line, passes
from engine.workspace import GitWorkspaces

__all__ = ["change_diff", "run_qc", "run_verification"]


def change_diff(bus: EventBus, workspaces: GitWorkspaces, tip: str, limit: int = 60000) -> str:
    """The change from the run's base commit to ``tip``, masked and redacted for a model."""
    ws = workspaces
    base = bus.state.base_commit or ws.base_commit
    text = str(ws.repo.git.diff("--stat", "--patch", base, tip))
    text = bus.redactor.redact(mask_diff(text))  # QC is a third-party model
    return text if len(text) <= limit else text[:limit] + "\n... [diff truncated]"


def _passed_before(bus: EventBus, check: str, tip: str) -> None:
    """Say that ``check`` passed on ``tip`` before the restart, and is not run again."""
    text = f"{check} passed on {tip[:10]} before the restart: not run again"
    bus.emit(AgentOutput(agent_id="resume", kind="notice", text=text))


async def run_qc(
    *,
    bus: EventBus,
    budget: BudgetTracker,
    workspaces: GitWorkspaces,
    config: EngineConfig,
    qc: CodeQC | None,
    blueprint: Blueprint,
    tip: str,
) -> None:
    """Code QC of the change from the base commit to ``tip``, the integration tip."""
    if qc is None:
        return
    if qc_passed_on(bus.state, tip, config.qc_threshold):
        _passed_before(bus, f"code QC ({bus.state.scores.qc}/100)", tip)
        return
    await budget.admit()
    bus.emit(StageChanged(stage=Stage.QC))
    try:
        report = await qc.assess(blueprint, change_diff(bus, workspaces, tip), bus.emit)
    except Exception as exc:
        raise StageFailed(f"code QC failed: {one_line(str(exc)) or type(exc).__name__}") from exc
    threshold = config.qc_threshold
    bus.emit(
        QCScored(
            model=str(getattr(qc, "model", "")),
            score=report.score,
            threshold=threshold,
            notes=report.notes,
            commit=tip,
        )
    )
    if not passes(report.score, threshold):
        raise StageFailed(f"code QC scored {report.score}/100, below {threshold}")


async def run_verification(
    *,
    bus: EventBus,
    budget: BudgetTracker,
    workspaces: GitWorkspaces,
    config: EngineConfig,
    verify_gates: Sequence[Gate],
    baseline: Baseline | None,
    verifier: Verifier | None,
    judge: Judge | None,
    blueprint: Blueprint,
    tip: str,
) -> str:
    """Verify ``tip``, the integration tip: the verify gates, then the verifier and the
    judge. Returns the commit to ship."""
    if verified_on(bus.state, tip, config.judge_threshold):
        _passed_before(bus, f"verification ({bus.state.scores.judge}/100)", tip)
        return tip
    await budget.admit()
    bus.emit(StageChanged(stage=Stage.VERIFY))
    ws = workspaces
    if not verify_gates and verifier is None and judge is None:
        return tip
    worktree = await ws.add_worktree("verify", tip)
    try:
        gates = guard(verify_gates, baseline)
        results = await run_gates(gates, worktree, scope="verify", emit=bus.emit)
        red = [r for r in results if not r.passed]
        if red:
            raise StageFailed(f"verification failed: {red[0].gate}: {red[0].summary}")
        if verifier is None and judge is None:
            return tip
        try:
            attack = (
                await verifier.attack(blueprint, worktree, bus.emit)
                if verifier is not None
                else VerifierReport()
            )
            verdict = (
                await judge.judge(blueprint, attack, results, bus.emit)
                if judge is not None
                else None
            )
        except Exception as exc:
            detail = one_line(str(exc)) or type(exc).__name__
            raise StageFailed(f"verification failed: {detail}") from exc
    finally:
        if not config.keep_worktrees:
            await ws.remove_worktree(worktree)
        else:  # kept to look at: its cargo target folder goes on to the next worktree
            ws.build_dirs.release(worktree)
    threshold = config.judge_threshold
    score = verdict.score if verdict is not None else (0 if attack.broken else 100)
    # The checklist is the verdict; a score above what it supports does not ship.
    share = checklist_share(verdict.checklist) if verdict is not None else None
    contradicted = share is not None and not passes(share, threshold)
    passed = (
        passes(score, threshold) and not contradicted and (verdict is not None or not attack.broken)
    )
    bus.emit(
        VerificationFinished(
            verifier_model=str(getattr(verifier, "model", "")),
            judge_model=str(getattr(judge, "model", "")),
            broken=list(attack.broken),
            checklist=dict(verdict.checklist) if verdict is not None else {},
            score=score,
            threshold=threshold,
            passed=passed,
            commit=tip,
        )
    )
    if not passed:
        broken = f"; broken: {', '.join(attack.broken)}" if attack.broken else ""
        if verdict is not None and contradicted and passes(score, threshold):
            failed = [item for item, ok in verdict.checklist.items() if not ok]
            raise StageFailed(
                f"the judge scored {score}/100 but its checklist passes "
                f"{len(verdict.checklist) - len(failed)} of {len(verdict.checklist)} items "
                f"({share}/100), below {threshold}; failed: {', '.join(failed[:3])}"
                f"{', ...' if len(failed) > 3 else ''}{broken}"
            )
        raise StageFailed(f"the judge scored {score}/100, below {threshold}{broken}")
    return tip
