"""RunState: the one fold over a run's events.

``state.apply(event)`` is the only way state changes. The engine, the TUI, ``status``,
``resume`` and replay all build their picture of a run this way, so there is never a second
copy of the truth. The fold is deterministic and does no I/O. The records it keeps of each
task, agent, escalation and score are :mod:`engine.run_views`; how each event changes it,
:mod:`engine.state_fold`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from engine.blueprint import Blueprint
from engine.events import (
    BudgetLimitsSet,
    BudgetUpdated,
    EventBase,
    GateFinished,
    LearningRecorded,
    Outcome,
    Stage,
    TwinDecided,
)
from engine.run_views import (
    AgentTally,
    AgentView,
    EscalationView,
    Scores,
    TaskView,
)
from engine.state_fold import FOLDS, fold_for


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
    ship_branch: str = ""
    simulated: bool = False
    models: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    stage: Stage = Stage.INTAKE
    ended_in: Stage | None = None
    """The stage the run was in when it finished (``stage`` is DONE from then on): where a
    run that failed or was killed stopped."""
    outcome: Outcome = Outcome.RUNNING
    interrupted_at: str | None = None
    """When the process driving the unfinished run stopped it on a person's word (its
    RunInterrupted, ISO time); None once a resume goes on, and for a log that just ends."""
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
    driven_s: float = 0.0
    """Seconds processes drove the run in its spans that ended (RunStarted or RunResumed to
    RunInterrupted, or to the last event before a resume after a crash, or a RunFinished)."""
    driven_since: datetime | None = None
    """When the span a process drives now began (None: no process drives the run)."""
    last_at: datetime | None = None
    """The time of the latest event."""

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
        kind = type(event)
        (FOLDS.get(kind) or fold_for(kind))(self, event)
        self.last_at = event.ts
        return self

    def driven_seconds(self, now: datetime | None = None) -> float:
        """The time processes drove the run, what its time budget counts: the hours it lay
        stopped between an interrupt (or a crash) and its resume are not in it. The span
        driven now runs to ``now`` (a live run's clock), else to the latest event."""
        end = now or self.last_at
        if self.driven_since is None or end is None:
            return self.driven_s
        return self.driven_s + max((end - self.driven_since).total_seconds(), 0.0)

    def end_driven_span(self, at: datetime | None) -> None:
        """Close the span driven since ``driven_since`` at ``at`` (folds of the events that
        end or replace a process's drive)."""
        if self.driven_since is not None and at is not None:
            self.driven_s += max((at - self.driven_since).total_seconds(), 0.0)
        self.driven_since = None

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

    def budget_status(self, now: datetime | None = None) -> dict[str, Any] | None:
        """The run's budgets as far as its log says (None: it says nothing of them): the run's
        limits as last reported (raised, or set by a resume), the crossed one, and the
        per-task limits a resume set (None there: as configured). ``now``: the clock of a run
        a process drives now, whose time runs on between its events
        (:meth:`driven_seconds`)."""
        run, limits = self.budget, self.budget_limits
        latest = run or limits  # a resume's limits are followed by the run's report of them
        if latest is None:
            return None
        return {
            "max_tokens": latest.max_tokens,
            "max_cost_usd": latest.max_cost_usd,
            "max_duration_s": latest.max_duration_s,
            "duration_s": round(self.driven_seconds(now), 1),
            "exceeded": run.exceeded if run is not None else None,
            "task_max_tokens": limits.task_max_tokens if limits is not None else None,
            "task_max_cost_usd": limits.task_max_cost_usd if limits is not None else None,
        }

    def to_status(self, now: datetime | None = None) -> dict[str, Any]:
        """The JSON shape ``shopfloor status --json`` prints (``now``: a live run's clock, as
        :meth:`budget_status` takes it)."""
        return {
            "run_id": self.run_id,
            "outcome": self.outcome.value,
            "stage": self.stage.value,
            "reason": self.reason,
            "interrupted_at": self.interrupted_at,
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
            "budget": self.budget_status(now),
            "unpriced_models": dict(self.unpriced_models),
            "baseline_red": dict(self.baseline_red),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }
