"""The stages only one mode runs: update mode's recon and audit mode's report.

An update run starts with recon: the repo map the planner is shown and the gates' verdicts on
the untouched base commit (the baseline, :mod:`engine.recon`). An audit run is read-only: it
runs every gate and code reviewer on a snapshot (:mod:`engine.audit`), writes its report,
learns, and ends there. Both are stages of :class:`~engine.pipeline.Factory`'s loop kept out
of the loop object: they take what they need and emit their events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from engine.audit import run_audit, tree_gates
from engine.audit_report import audit_learnings
from engine.budget import BudgetStop
from engine.build import RunAborted
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.dag import PlanError
from engine.events import AgentOutput, Stage, StageChanged
from engine.learn import record_learnings
from engine.protocols import Gate
from engine.recon import Baseline, RepoMapper, recon_notes, run_baseline
from engine.roles import Reviewer
from engine.stages import RunKilled, StageFailed, one_line
from engine.workspace import GitWorkspaces
from engine.workspace_errors import WorkspaceError

__all__ = ["run_audit_stage", "run_recon"]


async def run_recon(
    *,
    bus: EventBus,
    workspaces: GitWorkspaces,
    config: EngineConfig,
    repo_mapper: RepoMapper | None,
    merge_gates: Sequence[Gate],
    task_gates: Sequence[Gate],
    verify_gates: Sequence[Gate],
) -> tuple[Baseline, str]:
    """Update mode: the repo map and the gates on the untouched base commit (baseline).
    Returns the baseline and the recon notes for the planner."""
    ws = workspaces
    checkout = await ws.add_worktree("baseline", bus.state.base_commit or ws.base_commit)
    try:
        files = ws.tracked_files()
        # It reads every file: in a thread, so the loop goes on meanwhile.
        repo_map = (
            await asyncio.to_thread(repo_mapper, checkout, files)
            if repo_mapper
            else "\n".join(files)
        )
        # The verify gates too: they are guarded by the baseline as well, and a gate that
        # judges a revision gives way to the tree gate of its name (the secrets scan).
        # The merge step's gates first: where a step has a gate of its own, the merge's
        # is the one for the factory's own checkouts (the types gate's publishes its cache
        # for the attempts to start from, gates.mypy_seed).
        gates = tree_gates(merge_gates, task_gates, verify_gates)
        baseline = await run_baseline(gates, checkout, bus.emit)
    finally:
        if not config.keep_worktrees:
            await ws.remove_worktree(checkout)
        else:  # kept to look at: its cargo target folder goes on to the next worktree
            ws.build_dirs.release(checkout)
    notes = recon_notes(repo_map, baseline)
    text = f"recon: {len(files)} files; {baseline.describe()}"
    bus.emit(AgentOutput(agent_id="recon", kind="result", text=text))
    return baseline, notes


async def run_audit_stage(
    *,
    bus: EventBus,
    workspaces: GitWorkspaces,
    request: str,
    report_dir: Path | None,
    repo_mapper: RepoMapper | None,
    reviewers: Sequence[Reviewer],
    merge_gates: Sequence[Gate],
    task_gates: Sequence[Gate],
    verify_gates: Sequence[Gate],
) -> str:
    """Audit mode: every gate and code reviewer on a snapshot; report, learn, no changes.
    Returns the run's reason: where the report is, and the reviewers that failed."""
    if report_dir is None:
        raise StageFailed("an audit needs a folder for its report")
    bus.emit(StageChanged(stage=Stage.REVIEW))
    try:
        report = await run_audit(
            run_id=bus.run_id,
            request=request,
            repo=workspaces.path,
            commit=bus.state.base_commit or workspaces.base_commit,
            gates=tree_gates(merge_gates, task_gates, verify_gates),
            reviewers=reviewers,
            emit=bus.emit,
            repo_mapper=repo_mapper,
        )
    except (RunKilled, StageFailed, PlanError, WorkspaceError, BudgetStop, RunAborted):
        raise
    except Exception as exc:  # the snapshot or a gate broke: the run fails, in a line
        raise StageFailed(f"audit failed: {one_line(str(exc)) or type(exc).__name__}") from exc
    try:
        markdown, _json = report.write(report_dir)
    except OSError as exc:
        raise StageFailed(
            f"cannot write the audit report to {report_dir}: {exc.strerror or exc}"
        ) from exc
    for failure in report.review_failures:
        bus.emit(AgentOutput(agent_id="audit", kind="error", text=f"not reviewed: {failure}"))
    if report.review_failures and not report.reviews:  # the gates' findings are kept
        raise StageFailed(
            f"audit failed: every code reviewer failed ({'; '.join(report.review_failures)}); "
            f"the gates' report is at {markdown}"
        )
    missing = len(report.review_failures)
    text = f"audit report: {markdown} ({len(report.red_gates)} red gate(s))"
    if missing:
        text += f"; {missing} of {missing + len(report.reviews)} code reviewer(s) failed"
    bus.emit(AgentOutput(agent_id="audit", kind="result", text=text))
    record_learnings(bus, audit_learnings(report))
    reason = f"audit report: {markdown}"
    return f"{reason} ({missing} code reviewer(s) failed)" if missing else reason
