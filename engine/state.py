"""RunState: the one fold over a run's events.

``state.apply(event)`` is the only way state changes. The engine, the TUI, ``status``,
``resume`` and replay all build their picture of a run this way, so there is never a second
copy of the truth. The fold is deterministic and does no I/O. The records it keeps of each
task, agent, escalation and score are :mod:`engine.run_views`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from engine.blueprint import Blueprint
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
    MergeQueued,
    Outcome,
    QCScored,
    ReviewRoundFinished,
    ReviewScored,
    RunFinished,
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
from engine.run_views import (
    AgentTally,
    AgentView,
    EscalationView,
    GateView,
    ReviewView,
    Scores,
    TaskView,
)


@dataclass
class RunState:
    """Everything known about one run, folded from its events."""

    run_id: str = ""
    request: str = ""
    repo: str = ""
    mode: str = "create"
    base_branch: str = ""
    base_commit: str = ""
    integration_branch: str = ""
    simulated: bool = False
    models: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    stage: Stage = Stage.INTAKE
    ended_in: Stage | None = None
    """The stage the run was in when it finished (``stage`` is DONE from then on): where a
    run that failed or was killed stopped."""
    outcome: Outcome = Outcome.RUNNING
    reason: str = ""
    branch: str | None = None
    kill_gate: str | None = None
    blueprint: Blueprint | None = None
    blueprint_revision: int = 0
    blueprint_seq: int = 0
    """The sequence number of the latest BlueprintProposed: what was asked about the plan
    after it (an escalation's ``raised_seq``) is about that plan."""
    twin_sendbacks: int = 0
    """Plans drawn again because the twin, or an answer no human gave, sent one back (the
    ``twin``-sourced proposals): what ``twin_change_rounds`` bounds over the run."""
    twin_verdict: TwinDecided | None = None
    """The twin's latest verdict; one after ``blueprint_seq`` is on the current plan, and a
    resumed run takes it (a CHANGE's notes, say) instead of asking the twin again."""
    review_rounds: int = 0
    """Review rounds finished on the plan the planner drew last (the panel's own patches do
    not start a new count): a resumed panel goes on with the next one."""
    review_passed: bool = False
    """The latest of those rounds reached the quorum."""
    review_findings: list[str] = field(default_factory=list)
    """The reviewers' findings over those rounds, in order, without the engine's refusals of
    their patches: what the panel's escalation after its last round quotes."""
    scores: Scores = field(default_factory=Scores)
    budget: BudgetUpdated | None = None
    budget_limits: BudgetLimitsSet | None = None
    """The budgets a resume last set by hand (``shopfloor resume --max-cost``), if any: they
    replace the config's for the rest of the run."""
    learnings: list[LearningRecorded] = field(default_factory=list)
    tasks: dict[str, TaskView] = field(default_factory=dict)
    merged: list[str] = field(default_factory=list)
    agents: dict[str, AgentView] = field(default_factory=dict)
    escalations: dict[str, EscalationView] = field(default_factory=dict)
    input_tokens: int = 0
    """Every prompt token of the run's model calls, those read from a cache included."""
    cached_tokens: int = 0
    """Of ``input_tokens``, those the providers read from their prompt caches."""
    output_tokens: int = 0
    cost_usd: float = 0.0
    baseline_red: dict[str, str] = field(default_factory=dict)
    """Update mode: the gates already red on the base commit before the run changed anything
    (gate -> its summary there), which the run did not cause and did not have to fix."""
    unpriced_models: dict[str, int] = field(default_factory=dict)
    """Models whose calls nothing priced (``provider:model`` -> calls): ``cost_usd`` leaves
    them out, and a cost budget cannot see them."""
    last_seq: int = 0
    started_at: str = ""
    finished_at: str = ""

    @classmethod
    def fold(cls, events: Iterable[EventBase]) -> RunState:
        """A fresh state with every event applied in order."""
        state = cls()
        for event in events:
            state.apply(event)
        return state

    def apply(self, event: EventBase) -> RunState:
        """Apply one event; returns ``self`` so folds can chain."""
        if event.seq > self.last_seq:
            self.last_seq = event.seq
        # A match tries its cases in turn: the frequent events come first (agent output
        # by far, then task states, model calls, gates and budgets).
        match event:
            case AgentOutput():
                agent = self.agents.get(event.agent_id)
                if agent is not None:
                    agent.last_line = event.text.splitlines()[-1] if event.text else ""
            case TaskStateChanged():
                task = self.tasks.get(event.task_id)
                if task is not None:
                    task.state = event.state
                    task.attempts = max(task.attempts, event.attempt)
                    task.reason = event.reason
                    if event.state is TaskState.RUNNING:
                        task.context = event.context
            case LLMCallFinished():
                prompt = event.prompt_tokens
                self.input_tokens += prompt
                self.cached_tokens += event.cache_read_tokens
                self.output_tokens += event.output_tokens
                self.cost_usd += event.cost_usd
                if not event.priced:
                    model = f"{event.provider}:{event.model}"
                    self.unpriced_models[model] = self.unpriced_models.get(model, 0) + 1
                agent = self.agents.get(event.agent_id)
                if agent is not None:
                    agent.calls += 1
                    agent.input_tokens += prompt
                    agent.output_tokens += event.output_tokens
                    agent.cost_usd += event.cost_usd
            case GateFinished():
                if self.is_baseline(event):
                    if event.passed:
                        self.baseline_red.pop(event.gate, None)
                    else:
                        self.baseline_red[event.gate] = event.summary
                if event.task_id is not None and event.task_id in self.tasks:
                    self.tasks[event.task_id].gates.append(
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
            case BudgetUpdated():
                if event.scope == "run":
                    self.budget = event
                elif event.task_id in self.tasks:
                    self.tasks[event.task_id].tokens = event.tokens
                    self.tasks[event.task_id].cost_usd = event.cost_usd
                    self.tasks[event.task_id].budget = event
            case BudgetLimitsSet():
                self.budget_limits = event
            case AgentStarted():
                self.agents[event.agent_id] = AgentView(
                    agent_id=event.agent_id,
                    role=event.role,
                    model=event.model,
                    simulated=event.simulated,
                    task_id=event.task_id,
                    attempt=event.attempt,
                )
            case AgentFinished():
                agent = self.agents.get(event.agent_id)
                if agent is not None:
                    agent.running, agent.cut_off = False, False
                    agent.ok = event.ok
            case MergeQueued():
                pass
            case Merged():
                self.merged.append(event.task_id)
                task = self.tasks.get(event.task_id)
                if task is not None:
                    task.merged_commit = event.commit
            case TaskReviewed():
                task = self.tasks.get(event.task_id)
                if task is not None:
                    verdict = "approved" if event.approved else "changes requested"
                    task.reviews.append(
                        f"attempt {event.attempt}: {verdict} ({event.score}) {event.notes}"
                    )
            case RunStarted():
                self.run_id = event.run_id
                self.request = event.request
                self.repo = event.repo
                self.mode = event.mode
                self.base_branch = event.base_branch
                self.base_commit = event.base_commit
                self.integration_branch = event.integration_branch
                self.simulated = event.simulated
                self.models = dict(event.models)
                self.settings = dict(event.settings)
                self.started_at = event.ts.isoformat()
            case StageChanged():
                self.stage = event.stage
            case RunResumed():
                if event.settings:
                    self.settings = dict(event.settings)
                for agent in self.agents.values():  # the killed process's: none will finish
                    if agent.running:
                        agent.running, agent.cut_off = False, True
            case CriticScored():
                self.scores.critic = event.total
                self.scores.critic_scores = dict(event.scores)
            case KillGateTripped():
                self.kill_gate = event.gate
            case BlueprintProposed():
                self.blueprint = event.blueprint
                self.blueprint_revision = event.revision
                self.blueprint_seq = event.seq
                if event.source == "twin":
                    self.twin_sendbacks += 1
                if event.source != "review":  # a new plan: its review starts at round 1
                    self.review_rounds, self.review_passed = 0, False
                    self.review_findings = []
                old = self.tasks
                self.tasks = {
                    t.id: old.get(t.id)
                    or TaskView(id=t.id, title=t.title, depends_on=list(t.depends_on))
                    for t in event.blueprint.tasks
                }
                for t in event.blueprint.tasks:
                    self.tasks[t.id].title = t.title
                    self.tasks[t.id].depends_on = list(t.depends_on)
            case ReviewScored():
                self.scores.reviews.append(
                    ReviewView(
                        event.reviewer, event.model, event.round, event.score, event.findings
                    )
                )
                self.scores.review_round = max(self.scores.review_round, event.round)
                said = len(event.findings) - event.patches_refused
                self.review_findings.extend(event.findings[: max(said, 0)])
            case ReviewRoundFinished():
                self.scores.review_round = event.round
                self.scores.review_threshold = event.threshold
                self.review_rounds, self.review_passed = event.round, event.passed
            case TwinDecided():
                self.twin_verdict = event
                self.scores.twin_decision = event.decision
                self.scores.twin_confidence = event.confidence
            case CircuitBreakerTripped():
                task = self.tasks.get(event.task_id)
                if task is not None:
                    task.breaker = event.signature
            case QCScored():
                self.scores.qc = event.score
                self.scores.qc_threshold = event.threshold
                self.scores.qc_commit = event.commit
            case VerificationFinished():
                self.scores.judge = event.score
                self.scores.judge_threshold = event.threshold
                self.scores.judge_passed = event.passed
                self.scores.judge_commit = event.commit
                self.scores.checklist = dict(event.checklist)
            case LearningRecorded():
                self.learnings.append(event)
            case EscalationRaised():
                self.escalations[event.escalation_id] = EscalationView(
                    escalation_id=event.escalation_id,
                    question=event.question,
                    options=list(event.options),
                    task_id=event.task_id,
                    kind=event.kind,
                    context=event.context,
                    default=event.default,
                    raised_seq=event.seq,
                )
            case EscalationResolved():
                esc = self.escalations.get(event.escalation_id)
                if esc is not None:
                    esc.decision = event.decision
                    esc.decided_by = event.decided_by
                    esc.note = event.note
            case RunFinished():
                self.outcome = event.outcome
                self.reason = event.reason
                self.branch = event.branch
                if self.stage is not Stage.DONE:
                    self.ended_in = self.stage
                self.stage = Stage.DONE
                self.finished_at = event.ts.isoformat()
        return self

    def is_baseline(self, event: GateFinished) -> bool:
        """An update's recon gates: no task, before verification (a resumed run checks the
        base commit again before it goes on; the final verification is no baseline)."""
        if self.mode != "update" or event.task_id is not None or event.scope != "verify":
            return False
        stages = list(Stage)
        return stages.index(self.stage) < stages.index(Stage.VERIFY)

    def agents_live(self, driven: bool = True) -> bool:
        """Whether an agent without an end is at work: a process drives the run (``driven``;
        not so for a stopped run) and it is unfinished."""
        return driven and self.outcome is Outcome.RUNNING

    def agent_tally(self, *, live: bool = True) -> AgentTally:
        """The agents by how they stand (:meth:`AgentView.standing`). ``live``: a process
        drives the run (not so for a stopped run): agents without an end are running only in
        a live, unfinished run, and were cut off otherwise, as are those of a process a
        resume replaced. An agent the log restarted (a resumed attempt takes its agent id
        again) counts once, as its latest start."""
        live = self.agents_live(live)
        counts = {"running": 0, "done": 0, "failed": 0, "cut off": 0}
        for agent in self.agents.values():
            counts[agent.standing(live)] += 1
        return AgentTally(counts["running"], counts["done"], counts["failed"], counts["cut off"])

    @property
    def open_escalations(self) -> list[EscalationView]:
        return [e for e in self.escalations.values() if e.decision is None]

    def budget_status(self) -> dict[str, Any] | None:
        """The run's budgets as far as its log says (None: it says nothing of them): the run's
        limits as last reported (raised, or set by a resume), the crossed one, and the
        per-task limits a resume set (None there: as configured)."""
        run, limits = self.budget, self.budget_limits
        latest = run or limits  # a resume's limits are followed by the run's report of them
        if latest is None:
            return None
        return {
            "max_tokens": latest.max_tokens,
            "max_cost_usd": latest.max_cost_usd,
            "exceeded": run.exceeded if run is not None else None,
            "task_max_tokens": limits.task_max_tokens if limits is not None else None,
            "task_max_cost_usd": limits.task_max_cost_usd if limits is not None else None,
        }

    def to_status(self) -> dict[str, Any]:
        """The JSON shape ``shopfloor status --json`` prints."""
        return {
            "run_id": self.run_id,
            "outcome": self.outcome.value,
            "stage": self.stage.value,
            "reason": self.reason,
            "request": self.request,
            "repo": self.repo,
            "mode": self.mode,
            "simulated": self.simulated,
            "branch": self.branch,
            "integration_branch": (
                self.integration_branch or None if self.mode != "audit" else None
            ),  # an audit makes none (an older audit's log names one)
            "tasks": [
                {
                    "id": t.id,
                    "title": t.title,
                    "state": t.state.value,
                    "attempts": t.attempts,
                    "depends_on": t.depends_on,
                }
                for t in self.tasks.values()
            ],
            "merged": list(self.merged),
            "escalations": [
                {
                    "id": e.escalation_id,
                    "kind": e.kind,
                    "question": e.question,
                    "options": e.options,
                    "task_id": e.task_id,
                    "decision": e.decision,
                    "decided_by": e.decided_by,
                    "note": e.note,
                }
                for e in self.escalations.values()
            ],
            "kill_gate": self.kill_gate,
            "scores": {
                "critic": self.scores.critic,
                "reviews": {r.reviewer: r.score for r in self.scores.latest_reviews()},
                "review_round": self.scores.review_round,
                "twin": self.scores.twin_decision,
                "twin_confidence": self.scores.twin_confidence,
                "qc": self.scores.qc,
                "judge": self.scores.judge,
                "judge_passed": self.scores.judge_passed,
            },
            "learnings": [lr.learning_id for lr in self.learnings],
            "tokens": {
                "input": self.input_tokens,
                "cached": self.cached_tokens,
                "output": self.output_tokens,
            },
            "cost_usd": round(self.cost_usd, 6),
            "agents": asdict(self.agent_tally()),  # `status` knows whether the run is live
            "budget": self.budget_status(),
            "unpriced_models": dict(self.unpriced_models),
            "baseline_red": dict(self.baseline_red),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }
