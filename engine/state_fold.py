"""How each event changes a RunState: one small fold per event class, and the table.

:meth:`engine.state.RunState.apply` looks the event's class up in :data:`FOLDS` instead of
trying ~30 ``case`` patterns in turn, each failing one a pydantic ``isinstance`` check. A
class the table does not name (a subclass of an event, or an event the state does not keep)
is resolved once by :func:`fold_for` through its MRO and cached in the table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.events import (
    AgentFinished,
    AgentOutput,
    AgentStarted,
    BlueprintProposed,
    BudgetLimitsSet,
    BudgetUpdated,
    CircuitBreakerTripped,
    CriticScored,
    EscalationRaised,
    EscalationResolved,
    EventBase,
    GateFinished,
    KillGateTripped,
    LearningRecorded,
    LLMCallFinished,
    Merged,
    QCScored,
    ReviewRoundFinished,
    ReviewScored,
    RunFinished,
    RunInterrupted,
    RunResumed,
    RunStarted,
    Stage,
    StageChanged,
    TaskReviewed,
    TaskState,
    TaskStateChanged,
    TwinDecided,
    VerificationFinished,
)
from engine.run_views import AgentView, EscalationView, GateView, ReviewView, TaskView

if TYPE_CHECKING:
    from engine.state import RunState

Fold = Callable[["RunState", Any], None]
"""Applies one event (of the class it is filed under) to a state, in place."""


def _agent_output(state: RunState, event: AgentOutput) -> None:
    agent = state.agents.get(event.agent_id)
    if agent is not None:
        agent.last_line = event.text.splitlines()[-1] if event.text else ""


def _task_state_changed(state: RunState, event: TaskStateChanged) -> None:
    task = state.tasks.get(event.task_id)
    if task is not None:
        task.state = event.state
        task.attempts = max(task.attempts, event.attempt)
        task.reason = event.reason
        if event.state is TaskState.RUNNING:
            task.context = event.context
        elif event.state is TaskState.GATES and event.commit:
            task.tests_from = event.commit


def _llm_call_finished(state: RunState, event: LLMCallFinished) -> None:
    prompt = event.prompt_tokens
    state.input_tokens += prompt
    state.cached_tokens += event.cache_read_tokens
    state.output_tokens += event.output_tokens
    state.cost_usd += event.cost_usd
    if not event.priced:
        model = f"{event.provider}:{event.model}"
        state.unpriced_models[model] = state.unpriced_models.get(model, 0) + 1
    agent = state.agents.get(event.agent_id)
    if agent is not None:
        agent.calls += 1
        agent.input_tokens += prompt
        agent.output_tokens += event.output_tokens
        agent.cost_usd += event.cost_usd


def _gate_finished(state: RunState, event: GateFinished) -> None:
    if state.is_baseline(event):
        if event.passed:
            state.baseline_red.pop(event.gate, None)
        else:
            state.baseline_red[event.gate] = event.summary
    if event.task_id is not None and event.task_id in state.tasks:
        state.tasks[event.task_id].gates.append(
            GateView(
                gate=event.gate,
                scope=event.scope,
                attempt=event.attempt,
                passed=event.passed,
                summary=event.summary,
                output_tail=event.output_tail,
                findings=list(event.findings),
            )
        )


def _budget_updated(state: RunState, event: BudgetUpdated) -> None:
    if event.scope == "run":
        state.budget = event
    elif event.task_id in state.tasks:
        state.tasks[event.task_id].tokens = event.tokens
        state.tasks[event.task_id].cost_usd = event.cost_usd
        state.tasks[event.task_id].budget = event


def _budget_limits_set(state: RunState, event: BudgetLimitsSet) -> None:
    state.budget_limits = event


def _agent_started(state: RunState, event: AgentStarted) -> None:
    state.agents[event.agent_id] = AgentView(
        agent_id=event.agent_id,
        role=event.role,
        model=event.model,
        simulated=event.simulated,
        task_id=event.task_id,
        attempt=event.attempt,
    )


def _agent_finished(state: RunState, event: AgentFinished) -> None:
    agent = state.agents.get(event.agent_id)
    if agent is not None:
        agent.running, agent.cut_off = False, False
        agent.ok = event.ok


def _merged(state: RunState, event: Merged) -> None:
    state.merged.append(event.task_id)
    task = state.tasks.get(event.task_id)
    if task is not None:
        task.merged_commit = event.commit


def _task_reviewed(state: RunState, event: TaskReviewed) -> None:
    task = state.tasks.get(event.task_id)
    if task is not None:
        verdict = "approved" if event.approved else "changes requested"
        task.reviews.append(f"attempt {event.attempt}: {verdict} ({event.score}) {event.notes}")


def _run_started(state: RunState, event: RunStarted) -> None:
    state.run_id = event.run_id
    state.request = event.request
    state.repo = event.repo
    state.mode = event.mode
    state.base_branch = event.base_branch
    state.base_commit = event.base_commit
    state.integration_branch = event.integration_branch
    state.ship_branch = event.ship_branch
    state.simulated = event.simulated
    state.models = dict(event.models)
    state.settings = dict(event.settings)
    state.started_at = event.ts.isoformat()
    state.driven_since = event.ts


def _stage_changed(state: RunState, event: StageChanged) -> None:
    state.stage = event.stage


def _run_interrupted(state: RunState, event: RunInterrupted) -> None:
    state.interrupted_at = event.ts.isoformat()
    state.end_driven_span(event.ts)


def _run_resumed(state: RunState, event: RunResumed) -> None:
    state.end_driven_span(state.last_at)  # a crash's span ends at its last event
    state.driven_since = event.ts
    state.interrupted_at = None
    if event.settings:
        state.settings = dict(event.settings)
    for agent in state.agents.values():  # the killed process's: none will finish
        if agent.running:
            agent.running, agent.cut_off = False, True


def _critic_scored(state: RunState, event: CriticScored) -> None:
    state.scores.critic = event.total
    state.scores.critic_scores = dict(event.scores)


def _kill_gate_tripped(state: RunState, event: KillGateTripped) -> None:
    state.kill_gate = event.gate


def _blueprint_proposed(state: RunState, event: BlueprintProposed) -> None:
    state.blueprint = event.blueprint
    state.blueprint_revision = event.revision
    state.blueprint_seq = event.seq
    if event.source == "twin":
        state.twin_sendbacks += 1
    if event.source != "review":  # a new plan: its review starts at round 1
        state.review_rounds, state.review_passed = 0, False
        state.review_findings = []
        state.scores.plan_reviews_from = len(state.scores.reviews)
        state.scores.review_round = 0
    old = state.tasks
    state.tasks = {
        t.id: old.get(t.id) or TaskView(id=t.id, title=t.title, depends_on=list(t.depends_on))
        for t in event.blueprint.tasks
    }
    for t in event.blueprint.tasks:
        state.tasks[t.id].title = t.title
        state.tasks[t.id].depends_on = list(t.depends_on)


def _review_scored(state: RunState, event: ReviewScored) -> None:
    state.scores.reviews.append(
        ReviewView(event.reviewer, event.model, event.round, event.score, event.findings)
    )
    state.scores.review_round = max(state.scores.review_round, event.round)
    said = len(event.findings) - event.patches_refused
    state.review_findings.extend(event.findings[: max(said, 0)])


def _review_round_finished(state: RunState, event: ReviewRoundFinished) -> None:
    state.scores.review_round = event.round
    state.scores.review_threshold = event.threshold
    state.review_rounds, state.review_passed = event.round, event.passed


def _twin_decided(state: RunState, event: TwinDecided) -> None:
    state.twin_verdict = event
    state.scores.twin_decision = event.decision
    state.scores.twin_confidence = event.confidence


def _circuit_breaker_tripped(state: RunState, event: CircuitBreakerTripped) -> None:
    task = state.tasks.get(event.task_id)
    if task is not None:
        task.breaker = event.signature
        task.breaker_attempt = event.attempt


def _qc_scored(state: RunState, event: QCScored) -> None:
    state.scores.qc = event.score
    state.scores.qc_threshold = event.threshold
    state.scores.qc_commit = event.commit


def _verification_finished(state: RunState, event: VerificationFinished) -> None:
    state.scores.judge = event.score
    state.scores.judge_threshold = event.threshold
    state.scores.judge_passed = event.passed
    state.scores.judge_commit = event.commit
    state.scores.checklist = dict(event.checklist)


def _learning_recorded(state: RunState, event: LearningRecorded) -> None:
    state.learnings.append(event)


def _escalation_raised(state: RunState, event: EscalationRaised) -> None:
    state.escalations[event.escalation_id] = EscalationView(
        escalation_id=event.escalation_id,
        question=event.question,
        options=list(event.options),
        task_id=event.task_id,
        kind=event.kind,
        context=event.context,
        default=event.default,
        raised_seq=event.seq,
    )


def _escalation_resolved(state: RunState, event: EscalationResolved) -> None:
    esc = state.escalations.get(event.escalation_id)
    if esc is not None:
        esc.decision = event.decision
        esc.decided_by = event.decided_by
        esc.note = event.note


def _run_finished(state: RunState, event: RunFinished) -> None:
    state.outcome = event.outcome
    state.reason = event.reason
    state.branch = event.branch
    if state.stage is not Stage.DONE:
        state.ended_in = state.stage
    state.stage = Stage.DONE
    state.finished_at = event.ts.isoformat()
    state.end_driven_span(state.last_at)  # `abandon` ends a stopped run long after


FOLDS: dict[type[EventBase], Fold] = {
    AgentOutput: _agent_output,
    TaskStateChanged: _task_state_changed,
    LLMCallFinished: _llm_call_finished,
    GateFinished: _gate_finished,
    BudgetUpdated: _budget_updated,
    BudgetLimitsSet: _budget_limits_set,
    AgentStarted: _agent_started,
    AgentFinished: _agent_finished,
    Merged: _merged,
    TaskReviewed: _task_reviewed,
    RunStarted: _run_started,
    StageChanged: _stage_changed,
    RunResumed: _run_resumed,
    RunInterrupted: _run_interrupted,
    CriticScored: _critic_scored,
    KillGateTripped: _kill_gate_tripped,
    BlueprintProposed: _blueprint_proposed,
    ReviewScored: _review_scored,
    ReviewRoundFinished: _review_round_finished,
    TwinDecided: _twin_decided,
    CircuitBreakerTripped: _circuit_breaker_tripped,
    QCScored: _qc_scored,
    VerificationFinished: _verification_finished,
    LearningRecorded: _learning_recorded,
    EscalationRaised: _escalation_raised,
    EscalationResolved: _escalation_resolved,
    RunFinished: _run_finished,
}
"""Event class -> its fold. :func:`fold_for` adds the classes met later."""


def _unkept(state: RunState, event: EventBase) -> None:
    """Events the state keeps nothing of (MergeQueued, MergeConflict, ...)."""


def fold_for(kind: type[EventBase]) -> Fold:
    """The fold for an event class the table does not name yet: that of its nearest base
    class the table names, else one that does nothing; remembered in the table."""
    fold = next((FOLDS[base] for base in kind.__mro__ if base in FOLDS), _unkept)
    FOLDS[kind] = fold
    return fold
