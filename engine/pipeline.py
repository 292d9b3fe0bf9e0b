"""The factory loop: critic, blueprint, review, twin, build, QC, verify, ship, learn.

:class:`Factory` is the one loop object. Each stage reads the run's state and emits events;
decisions are taken by the pure functions of :mod:`engine.stages` on the folded state, never
on private copies. Every judging role is optional — a missing one skips its stage. Bad input
(a plan with a cycle, a failing planner) ends the run with a one-line reason, never a
traceback. A cancelled run emits no finish: its log stays resumable, and a Factory built on a
bus folded from that log (``EventBus(run_id, state=...)``) resumes it.

The loop keeps planning and the build; the other stages are functions the loop calls with
what they need: code QC and verification in :mod:`engine.tip_checks`, shipping in
:mod:`engine.ship`, learning in :mod:`engine.learn`, and the stages of one mode (update's
recon, audit's report) in :mod:`engine.mode_stages`. What a bug of ours that ends a run
leaves (a line, a traceback in the log) is :mod:`engine.crash_report`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.blueprint import Blueprint
from engine.breaker import CircuitBreaker
from engine.budget import BudgetStop, BudgetTracker
from engine.build import ProviderSlots, RunAborted, TaskRunner
from engine.bus import DurabilityLost, EventBus
from engine.config import EngineConfig
from engine.crash_report import report_crash, without_env_secrets
from engine.dag import Dag, PlanError
from engine.escalations import EscalationBroker
from engine.events import (
    AgentOutput,
    Outcome,
    RunResumed,
    RunStarted,
    Stage,
    StageChanged,
    TaskState,
    TaskStateChanged,
)
from engine.github import Publisher
from engine.heap import long_lived
from engine.learn import record_learnings
from engine.merge_queue import MergeQueue, StopRequested
from engine.mode_stages import run_audit_stage, run_recon
from engine.planning import Planning
from engine.planning_resume import plan_resume_point
from engine.protocols import DecisionSource, Engineer, Gate, Planner
from engine.recon import Baseline, Mode, RepoMapper, guard
from engine.resume import (
    ResumePlan,
    check_repository,
    emit_ending,
    emit_found_merged,
    merges_on_branch,
    plan_resume,
)
from engine.roles import CodeQC, Critic, Judge, Reviewer, TaskReviewer, Twin, Verifier
from engine.scheduler import Scheduler
from engine.secret_values import committed_secret_values
from engine.ship import branch_name, ship
from engine.spend import BudgetLimits, still_crossed
from engine.stages import RunKilled, StageFailed, one_line
from engine.state import RunState
from engine.tip_checks import run_qc, run_verification
from engine.workspace import GitWorkspaces
from engine.workspace_errors import WorkspaceError

__all__ = ["Factory", "RunKilled", "StageFailed"]

_ORDER = list(Stage)


@dataclass
class Factory:
    """Runs one request against one repository to a shipped branch (or a clear ending)."""

    bus: EventBus
    workspaces: GitWorkspaces
    planner: Planner
    engineer: Engineer
    request: str
    config: EngineConfig = field(default_factory=EngineConfig)
    task_gates: Sequence[Gate] = ()
    merge_gates: Sequence[Gate] = ()
    verify_gates: Sequence[Gate] = ()
    models: dict[str, str] = field(default_factory=dict)
    simulated: bool = False
    critic: Critic | None = None
    reviewers: Sequence[Reviewer] = ()
    twin: Twin | None = None
    task_reviewer: TaskReviewer | None = None
    qc: CodeQC | None = None
    verifier: Verifier | None = None
    judge: Judge | None = None
    decisions: DecisionSource | None = None
    engineer_family: str = ""
    """The engineer's model family, for ``provider_limits``."""
    settings: dict[str, str] = field(default_factory=dict)
    """Front-end settings stored in RunStarted so ``resume`` can rebuild the run."""
    publisher: Publisher | None = None
    """Pushes the shipped branch and opens a pull request (engine.github), when configured."""
    mode: Mode = "create"
    """create | update (recon, baseline, delta plan) | audit (report only; see engine.audit)."""
    repo_mapper: RepoMapper | None = None
    """Builds the repo map recon shows the planner (agents.context.repo_map)."""
    report_dir: Path | None = None
    """Where an audit writes audit.md and audit.json."""
    budget_limits: BudgetLimits | None = None
    """Budgets set by hand (``--max-cost`` of ``run`` or ``resume``): they replace the
    config's, are logged (BudgetLimitsSet) and hold at later resumes."""
    budget_answers: Mapping[str, str] = field(default_factory=dict)
    """Decisions posted to the run's open escalations while no process drove it (escalation
    id -> decision): a budget question answered "raise" lets a resume go on
    (:func:`still_crossed`)."""
    broker: EscalationBroker = field(init=False)
    baseline: Baseline | None = field(init=False, default=None)
    _recon_notes: str = field(init=False, default="")
    budget: BudgetTracker = field(init=False)

    def __post_init__(self) -> None:
        # The request is cleaned of secrets once, here, before anything reads it: it goes to
        # third-party models (critic, planner, reviewers, twin, an audit's reviewers), into
        # the log (RunStarted) and from there into a branch name and a pull request's title.
        # A key pasted into it ("our key is sk-ant-...") is never what a model needs — the
        # code it writes reads keys from the environment — so every reader gets the same
        # "[REDACTED]" in its place, and what the models worked from is what the log shows.
        # A resume reads the request back from the log, cleaned already.
        self.request = self.bus.redactor.redact(self.request)
        self.broker = EscalationBroker(
            self.bus,
            policy=self.config.escalation_policy,
            timeout_s=self.config.escalation_timeout_s,
            twin=self.twin,
            decisions=self.decisions,
        )
        self.budget = BudgetTracker(self.bus, self.config, self.broker)

    @property
    def state(self) -> RunState:
        return self.bus.state

    async def run(self) -> RunState:
        """Run (or resume) the whole pipeline; returns the final state.

        A resume the repository can no longer carry on (:func:`engine.resume.check_repository`)
        raises its WorkspaceError before anything is logged: the run stays resumable. So does
        a resume over a budget that ``budget_limits`` does not raise: BudgetStop.

        A person's (or the timeout's) "stop" on the run's budget stops it resumable, as
        Ctrl-C does: no RunFinished, a notice, merged tasks kept.
        """
        ws = self.workspaces
        if self.state.outcome is not Outcome.RUNNING:
            return self.state  # finished already: nothing to resume
        resuming = bool(self.state.run_id)
        if not resuming:
            self.bus.emit(
                RunStarted(
                    request=self.request,
                    repo=str(ws.path),
                    base_branch=ws.base_branch,
                    base_commit=ws.base_commit,
                    # an audit merges nothing: no integration branch is ever made
                    integration_branch="" if self.mode == "audit" else ws.integration_branch,
                    ship_branch=""
                    if self.mode == "audit"
                    else branch_name(self.config, self.request, self.bus.run_id),
                    mode=self.mode,
                    models=dict(self.models),
                    simulated=self.simulated,
                    settings=dict(self.settings),
                )
            )
            if self.budget_limits is not None and self.budget_limits.given():
                self.budget.set_limits(self.budget_limits)
        restore = (
            check_repository(self.state, ws) if resuming and self.state.mode != "audit" else None
        )
        if resuming and (
            crossed := still_crossed(
                self.state, self.config, self.budget_limits, self.budget_answers
            )
        ):
            raise BudgetStop(f"run {self.bus.run_id} is {crossed.text}: raise it to go on")
        # The values of the repository's secret files (.env, credentials.json): a gate's
        # output or an agent's command quoting one is cleaned of them in every event, and in
        # what the bus's redactor cleans for a model (a retry's failure, a diff).
        self.bus.add_secrets(
            committed_secret_values(ws.path, self.state.base_commit or ws.base_commit)
        )
        try:
            if self.state.mode == "audit":  # read-only: no integration branch, no worktree
                reason = await run_audit_stage(
                    bus=self.bus,
                    workspaces=ws,
                    request=self.request,
                    report_dir=self.report_dir,
                    repo_mapper=self.repo_mapper,
                    reviewers=self.reviewers,
                    merge_gates=self.merge_gates,
                    task_gates=self.task_gates,
                    verify_gates=self.verify_gates,
                )
                self._finish(Outcome.REPORTED, reason)
                return self.state
            await ws.start(restore or self.state.base_commit or None)
            restarts = await self._resume() if resuming else ResumePlan()
            self.broker.start()
            if self.state.mode == "update":
                self.baseline, self._recon_notes = await run_recon(
                    bus=self.bus,
                    workspaces=ws,
                    config=self.config,
                    repo_mapper=self.repo_mapper,
                    merge_gates=self.merge_gates,
                    task_gates=self.task_gates,
                    verify_gates=self.verify_gates,
                )
            blueprint = await self._plan()
            await self._build(blueprint, Dag.from_blueprint(blueprint), restarts)
            tip = ws.integration_tip()
            await run_qc(
                bus=self.bus,
                budget=self.budget,
                workspaces=ws,
                config=self.config,
                qc=self.qc,
                blueprint=blueprint,
                tip=tip,
            )
            commit = await run_verification(
                bus=self.bus,
                budget=self.budget,
                workspaces=ws,
                config=self.config,
                verify_gates=self.verify_gates,
                baseline=self.baseline,
                verifier=self.verifier,
                judge=self.judge,
                blueprint=blueprint,
                tip=tip,
            )
            branch = await ship(
                bus=self.bus,
                workspaces=ws,
                config=self.config,
                request=self.request,
                publisher=self.publisher,
                commit=commit,
            )
            record_learnings(self.bus)
            self._finish(Outcome.SHIPPED, branch=branch, commit=commit)
        except StopRequested:
            pass  # as a Ctrl-C stop: no RunFinished, the run stays resumable (said already)
        except BudgetStop as exc:  # the run's (a task's stops that task alone): as above
            text = f"the run stops: {exc}; it stays resumable, with a higher budget"
            self.bus.emit(AgentOutput(agent_id="budget", kind="notice", text=text))
        except DurabilityLost:
            # The storage writer stopped (a database that refuses the run's events, an
            # outage it waited out): nothing irreversible was done past the last stored
            # event, and the run's storage watch says why in one line. Not a bug of ours, so
            # no "crashed" line, and no ending: the run stays resumable from its log.
            pass
        except RunKilled as exc:
            self._finish(Outcome.KILLED, one_line(str(exc)))
        except (StageFailed, PlanError, WorkspaceError, RunAborted) as exc:
            # What failed the run (a tripped breaker, a retried task) is the lesson later
            # runs most need; a resumed run records none of it twice.
            record_learnings(self.bus)
            self._finish(Outcome.FAILED, one_line(str(exc)))
        except Exception as exc:
            report_crash(self.bus, exc)
            detail = without_env_secrets(one_line(str(exc)))
            self._finish(Outcome.FAILED, f"internal error: {type(exc).__name__}: {detail}")
        finally:
            await self.broker.close()
            if not self.config.keep_worktrees:  # a run that stays resumable keeps its builds
                await ws.cleanup(keep_builds=self.state.outcome is Outcome.RUNNING)
        return self.state

    # -- plumbing ------------------------------------------------------------------------------

    def _stage(self, stage: Stage) -> None:
        self.bus.emit(StageChanged(stage=stage))

    def _reached(self, stage: Stage) -> bool:
        return _ORDER.index(self.state.stage) >= _ORDER.index(stage)

    def _finish(
        self,
        outcome: Outcome,
        reason: str = "",
        branch: str | None = None,
        commit: str | None = None,
    ) -> None:
        emit_ending(self.bus, outcome, reason, branch, commit)

    async def _resume(self) -> ResumePlan:
        """Clear the dead process's worktrees (not its builds), take the branch's merges."""
        ws = self.workspaces
        await ws.cleanup(keep_builds=True)
        plan = plan_resume(self.state, merges_on_branch(self.state, ws))
        self.bus.emit(
            RunResumed(
                merged_from_repo=sorted(plan.merged_from_repo),
                restarted=sorted(plan.restarts),
                settings=dict(self.settings),
            )
        )
        emit_found_merged(self.bus, plan.merged_from_repo)
        if self.budget_limits is not None and self.budget_limits.given():
            self.budget.set_limits(self.budget_limits)
        self.budget.close_stale_questions()  # those the limits just set answered
        return plan

    # -- stages ----------------------------------------------------------------------------------

    async def _plan(self) -> Blueprint:
        if self.state.kill_gate is not None:
            raise RunKilled(f"kill gate {self.state.kill_gate} tripped before the restart")
        if self.state.blueprint is not None and self._reached(Stage.BUILD):
            return self.state.blueprint  # approved before the restart
        resume = plan_resume_point(self.state)
        planning = Planning(
            bus=self.bus,
            config=self.config,
            request=self.request,
            repo_files=self.workspaces.tracked_files(),
            planner=self.planner,
            broker=self.broker,
            critic=self.critic,
            reviewers=self.reviewers,
            twin=self.twin,
            context_notes=self._recon_notes,
        )
        await self.budget.admit()
        if resume is None:  # a plan in the log goes on where it stopped: see plan_resume_point
            await planning.critique()
        return await planning.approve(resume)

    async def _build(self, blueprint: Blueprint, dag: Dag, restarts: ResumePlan) -> None:
        self._stage(Stage.BUILD)
        queue = MergeQueue(
            self.workspaces,
            guard(self.merge_gates, self.baseline),
            self.bus.emit,
            keep_worktrees=self.config.keep_worktrees,
            emit_new=self.bus.emit_new,
            broker=self.broker,
            checkout_wait_s=self.config.checkout_wait_s,
        )
        runner = TaskRunner(
            run_id=self.bus.run_id,
            blueprint=blueprint,
            config=self.config,
            workspaces=self.workspaces,
            engineer=self.engineer,
            gates=guard(self.task_gates, self.baseline),
            merge_queue=queue,
            emit=self.bus.emit,
            task_reviewer=self.task_reviewer,
            broker=self.broker,
            budget=self.budget,
            breaker=CircuitBreaker(),
            slots=ProviderSlots(self.config),
            engineer_family=self.engineer_family,
            resume=restarts.restarts,
            breaker_asks=restarts.breaker_asks,
            kept_tests=restarts.kept_tests,
            emit_new=self.bus.emit_new,
            redact=self.bus.redactor.redact,
        )

        def on_ready(task_id: str) -> None:
            self.bus.emit_new(TaskStateChanged, task_id=task_id, state=TaskState.READY)

        def on_blocked(task_id: str, by: str) -> None:
            self.bus.emit_new(
                TaskStateChanged, task_id=task_id, state=TaskState.BLOCKED, reason=f"{by} failed"
            )

        # ``workers`` tasks at once even where the engineer's family allows fewer calls: its
        # slots bound them, and a task paused on its budget gives its slot back meanwhile.
        scheduler = Scheduler(
            dag, self.config.workers, runner.run, on_ready=on_ready, on_blocked=on_blocked
        )
        with long_lived():  # the plan, the state and the build's machinery: see engine.heap
            result = await scheduler.run(already_merged=self.state.merged)
        if not result.complete:
            if result.failed and set(result.failed) <= runner.budget_stopped:
                # Stopped at their own budgets and nothing else went wrong: the run stops
                # resumable, as at its own budget; a resume with a higher task budget
                # builds them (and what they blocked) instead of the run ending failed.
                stopped = ", ".join(result.failed)
                raise BudgetStop(f"task(s) stopped at their budget: {stopped}", "task")
            failed = ", ".join(result.failed)
            blocked = f"; blocked: {', '.join(result.blocked)}" if result.blocked else ""
            raise StageFailed(f"task(s) failed after all attempts: {failed}{blocked}")
