"""The views a RunState holds: one small record per task, gate, agent, escalation and review,
and the score gauges.

:class:`~engine.state.RunState` builds and updates these as it folds a run's events; the TUI,
``status`` and the telemetry read them. They hold data and say how it reads (an agent's
standing); nothing here changes a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.events import BudgetUpdated, TaskState


@dataclass
class GateView:
    gate: str
    scope: str
    attempt: int
    passed: bool
    summary: str
    output_tail: str = ""
    findings: list[str] = field(default_factory=list)


@dataclass
class TaskView:
    id: str
    title: str
    depends_on: list[str]
    state: TaskState = TaskState.PENDING
    attempts: int = 0
    reason: str = ""
    context: str = ""  # the failure context the latest attempt was started with
    tests_from: str = ""  # the attempt commit whose tests the task's next attempt keeps
    gates: list[GateView] = field(default_factory=list)
    merged_commit: str | None = None
    reviews: list[str] = field(default_factory=list)  # task reviewer notes, per attempt
    breaker: str | None = None  # failure signature that tripped the circuit breaker
    breaker_attempt: int = 0  # the attempt after which it tripped
    tokens: int = 0
    cost_usd: float = 0.0
    budget: BudgetUpdated | None = None  # the task's latest budget report: limits as raised


@dataclass
class AgentView:
    agent_id: str
    role: str
    model: str
    simulated: bool
    task_id: str | None
    attempt: int
    running: bool = True
    ok: bool | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    last_line: str = ""
    cut_off: bool = False
    """Started, never finished, and the process that ran it is gone: the run was resumed
    (RunResumed) by another process, which restarts the attempt under a new start."""

    def standing(self, live: bool = True) -> str:
        """ "running", "done", "failed" or "cut off". ``live``: a process drives the run
        and it is unfinished (:meth:`RunState.agents_live`); otherwise an agent without an
        end was cut off, as is one whose process a resume replaced."""
        if self.cut_off or (self.running and not live):
            return "cut off"
        if self.running:
            return "running"
        return "done" if self.ok else "failed"


@dataclass(frozen=True)
class AgentTally:
    """How the run's agents stand: at work, finished well, finished failing, cut off."""

    running: int = 0
    done: int = 0
    failed: int = 0
    cut_off: int = 0
    """Started, never finished, and no process drives them any more (the run stopped or
    was resumed by another process, or ended around them)."""


@dataclass
class EscalationView:
    escalation_id: str
    question: str
    options: list[str]
    task_id: str | None
    kind: str = "other"
    context: str = ""
    default: str | None = None
    raised_seq: int = 0
    decision: str | None = None
    decided_by: str | None = None
    note: str = ""


@dataclass
class ReviewView:
    reviewer: str
    model: str
    round: int
    score: int
    findings: list[str]


@dataclass
class Scores:
    """The gauges: every score the pipeline produced, latest first-class."""

    critic: float | None = None
    critic_scores: dict[str, float] = field(default_factory=dict)
    reviews: list[ReviewView] = field(default_factory=list)  # every reviewer, every round
    review_round: int = 0
    plan_reviews_from: int = 0
    """Where in ``reviews`` the reviews of the plan drawn last begin: a plan drawn again (a
    change note, the twin's send-back) is reviewed from round 1, and the rounds of the one
    before are not its."""
    review_threshold: int | None = None
    twin_decision: str | None = None
    twin_confidence: float | None = None
    qc: int | None = None
    qc_threshold: int | None = None
    qc_commit: str = ""
    """The integration tip ``qc`` scored (empty in logs from before QC recorded it)."""
    judge: int | None = None
    judge_threshold: int | None = None
    judge_passed: bool | None = None
    """The verdict, which the score alone does not make: a checklist that fails too many
    items, or a result the verifier broke, fails a score at or above the bar."""
    judge_commit: str = ""
    """The integration tip the verdict is on (empty in logs from before it was recorded)."""
    checklist: dict[str, bool] = field(default_factory=dict)

    def latest_reviews(self) -> list[ReviewView]:
        """The reviews of the latest round on the plan drawn last."""
        drawn = self.reviews[self.plan_reviews_from :]
        return [r for r in drawn if r.round == self.review_round]
