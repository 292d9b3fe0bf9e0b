"""The one language of shopfloor: every state change is an immutable, typed event.

Events are pydantic models, each tagged by its ``type``; their discriminated union and their
JSON form live in :mod:`engine.event_codec`. The engine creates them without a run id or
sequence number; the :class:`~engine.bus.EventBus` stamps both (and the time) when it emits
them, so a per-run sequence is gap-free and ordered. Everything that
shows or stores a run — RunState, storage, telemetry, the TUI — reads these and nothing else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from engine.blueprint import Blueprint


def utcnow() -> datetime:
    """The current time, timezone-aware, as every event carries it."""
    return datetime.now(UTC)


class Stage(StrEnum):
    """Pipeline stages in the order a create-mode run passes them."""

    INTAKE = "intake"
    CRITIC = "critic"
    BLUEPRINT = "blueprint"
    REVIEW = "review"
    TWIN = "twin"
    BUILD = "build"
    QC = "qc"
    VERIFY = "verify"
    SHIP = "ship"
    LEARN = "learn"
    DONE = "done"


class TaskState(StrEnum):
    """Where a task of the blueprint is in its life."""

    PENDING = "pending"  # waiting for dependencies to merge
    READY = "ready"  # dependencies merged, waiting for a worker
    RUNNING = "running"  # an engineer attempt is under way
    GATES = "gates"  # the attempt's task gates are running
    MERGING = "merging"  # queued for / inside the merge queue
    MERGED = "merged"  # on the integration branch
    FAILED = "failed"  # out of attempts
    BLOCKED = "blocked"  # a dependency failed


class Outcome(StrEnum):
    """How a run ended (or that it has not)."""

    RUNNING = "running"
    SHIPPED = "shipped"
    REPORTED = "reported"  # an audit ended with its report written (nothing shipped)
    FAILED = "failed"
    KILLED = "killed"


class EventBase(BaseModel):
    """Fields every event carries. ``run_id``/``seq``/``ts`` are stamped by the bus."""

    # Each event type's validator is built when it first validates, not at import: ``runs``,
    # ``escalations`` and ``answer`` read no event and build none (engine.event_codec).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    run_id: str = ""
    seq: int = 0
    ts: datetime = Field(default_factory=utcnow)


E = TypeVar("E", bound=EventBase)


class RunStarted(EventBase):
    type: Literal["RunStarted"] = "RunStarted"
    request: str
    repo: str
    mode: Literal["create", "update", "audit"] = "create"
    base_branch: str
    base_commit: str
    integration_branch: str
    models: dict[str, str] = Field(default_factory=dict)
    simulated: bool = False
    settings: dict[str, str] = Field(default_factory=dict)
    """What the front end needs to resume the run (config file, playbook, speed); no secrets."""
    ship_branch: str = ""
    """The branch the run ships as, named when it starts; empty in an audit, and in a log
    written before it was recorded (such a run ships named after its whole request)."""


class RunResumed(EventBase):
    """The run goes on in a new process after a crash or an interrupt."""

    type: Literal["RunResumed"] = "RunResumed"
    merged_from_repo: list[str] = Field(default_factory=list)  # merges the log had lost
    restarted: list[str] = Field(default_factory=list)  # tasks whose attempts restart
    settings: dict[str, str] = Field(default_factory=dict)
    """The front end's settings from here on, as RunStarted's (a resume may change who
    answers escalations); empty in logs written before resumes recorded them."""


class RunInterrupted(EventBase):
    """The process driving the run stopped it on a person's word — Ctrl-C, headless or in
    the TUI, its quit key, a stop signal (SIGTERM, a hang-up) — once the run's attempts were
    let go: the log is whole and ``shopfloor resume`` goes on from it. A log that just ends
    (neither this nor RunFinished) is a crash's or a kill's."""

    type: Literal["RunInterrupted"] = "RunInterrupted"


class StageChanged(EventBase):
    type: Literal["StageChanged"] = "StageChanged"
    stage: Stage


class CriticScored(EventBase):
    """The critic's 0-10 scores on named criteria, and its risk reads for the kill gates."""

    type: Literal["CriticScored"] = "CriticScored"
    model: str = ""
    scores: dict[str, float]
    total: float  # mean of the scores, 0-10
    compliance_risk: Literal["low", "medium", "high"] = "low"
    cannibalizes: str | None = None  # an existing capability of the repo the request duplicates
    rationale: str = ""


class KillGateTripped(EventBase):
    """A kill gate ended the run before the expensive stages."""

    type: Literal["KillGateTripped"] = "KillGateTripped"
    gate: Literal["min_critic_score", "compliance_risk", "cannibalization"]
    reason: str


class BlueprintProposed(EventBase):
    type: Literal["BlueprintProposed"] = "BlueprintProposed"
    blueprint: Blueprint
    revision: int = 1
    source: Literal["planner", "review", "twin", "human"] = "planner"


class ReviewScored(EventBase):
    """One reviewer's verdict on a blueprint revision in a review round."""

    type: Literal["ReviewScored"] = "ReviewScored"
    reviewer: str  # reviewer id, e.g. "reviewer-1"
    model: str
    round: int
    score: int  # 0-100
    findings: list[str] = Field(default_factory=list)
    patches: int = 0  # SEARCH/REPLACE patches it proposed
    patches_applied: int = 0
    patches_refused: int = 0
    """How many of ``findings`` (the last ones) are the engine's refusals of its patches, not
    the reviewer's words; 0 in logs written before it was recorded, whose refusals read as
    findings."""


class ReviewRoundFinished(EventBase):
    type: Literal["ReviewRoundFinished"] = "ReviewRoundFinished"
    round: int
    scores: dict[str, int]  # reviewer -> score
    threshold: int
    quorum: int  # reviewers needed at or above the threshold
    passed: bool


class TwinDecided(EventBase):
    """The human twin's decision on the blueprint, as the owner would decide."""

    type: Literal["TwinDecided"] = "TwinDecided"
    decision: Literal["ACCEPT", "CHANGE", "REJECT"]
    confidence: float  # 0-1
    notes: str = ""
    redlines: list[str] = Field(default_factory=list)  # owner redlines the blueprint touches
    escalated: bool = False


class TaskStateChanged(EventBase):
    type: Literal["TaskStateChanged"] = "TaskStateChanged"
    task_id: str
    state: TaskState
    attempt: int = 0
    reason: str = ""
    context: str = ""
    """On RUNNING: the failure context the attempt was started with (empty on a first
    attempt), as the engineer received it, so a resumed run restarts it with the same words."""
    commit: str = ""
    """On GATES: the attempt's commit, whose tests the task's next attempt keeps, a resumed
    one too (:mod:`engine.carried_tests`)."""


class TaskReviewed(EventBase):
    """The task reviewer (on another model family) on an attempt that passed its gates."""

    type: Literal["TaskReviewed"] = "TaskReviewed"
    task_id: str
    attempt: int
    model: str
    approved: bool
    score: int = 0  # 0-100
    notes: str = ""


class CircuitBreakerTripped(EventBase):
    """The same failure signature twice: the task stops retrying and escalates."""

    type: Literal["CircuitBreakerTripped"] = "CircuitBreakerTripped"
    task_id: str
    attempt: int
    signature: str
    """How it failed, as a person reads it (``engine.breaker.failure_headline``)."""


class BudgetUpdated(EventBase):
    """Spend so far against the limits; ``exceeded`` names the crossed limit, if any."""

    type: Literal["BudgetUpdated"] = "BudgetUpdated"
    scope: Literal["run", "task"] = "run"
    task_id: str | None = None
    tokens: int
    cost_usd: float
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    duration_s: float = 0.0
    """The run's: the time processes drove it so far (:meth:`RunState.driven_seconds`)."""
    max_duration_s: float | None = None
    """The run's time budget (``--max-duration``); a task has none."""
    exceeded: Literal["tokens", "cost", "time"] | None = None


class BudgetLimitsSet(EventBase):
    """A resume set the run's budgets by hand (``shopfloor resume --max-cost``): the limits
    from here on, each replacing the one before (the config's, or as an escalation raised it).
    The per-task ones apply to every task that has not merged; None is no limit."""

    type: Literal["BudgetLimitsSet"] = "BudgetLimitsSet"
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    task_max_tokens: int | None = None
    task_max_cost_usd: float | None = None
    max_duration_s: float | None = None


class AgentStarted(EventBase):
    type: Literal["AgentStarted"] = "AgentStarted"
    agent_id: str
    role: str
    model: str
    simulated: bool = False
    task_id: str | None = None
    attempt: int = 0


class AgentFinished(EventBase):
    type: Literal["AgentFinished"] = "AgentFinished"
    agent_id: str
    ok: bool
    summary: str = ""


class AgentOutput(EventBase):
    """A line of what an agent said or did. High rate; the TUI coalesces these.

    ``kind``: ``text`` the model's words, ``tool`` a tool call, ``result`` / ``error`` its
    outcome, ``notice`` what the provider layer did around the model call (a retry's wait,
    a fallback to the next model, a model skipped while it is down) — shown by the headless
    console without ``-v``. Logs written before notices had a kind of their own carry them
    as ``error``.
    """

    type: Literal["AgentOutput"] = "AgentOutput"
    agent_id: str
    kind: Literal["text", "tool", "result", "error", "notice"] = "text"
    text: str


class LLMCallFinished(EventBase):
    type: Literal["LLMCallFinished"] = "LLMCallFinished"
    agent_id: str
    role: str
    provider: str
    model: str
    simulated: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    tokens_estimated: bool = False
    """The provider reported no usage: the token counts are estimated from the text."""
    priced: bool = True
    """False when nothing priced the call: its model is not in the price table and the
    provider billed nothing, so ``cost_usd`` is 0 for want of a price, not because it was
    free (older logs: True)."""

    @property
    def prompt_tokens(self) -> int:
        """Every token of the prompt: ``input_tokens`` are only those the provider neither
        read from its cache nor wrote to it, and with caching on they are a few of them."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens


class GateFinished(EventBase):
    type: Literal["GateFinished"] = "GateFinished"
    gate: str
    scope: Literal["task", "merge", "verify"]
    task_id: str | None = None
    attempt: int = 0
    passed: bool
    summary: str
    duration_s: float = 0.0
    counts: dict[str, int] = Field(default_factory=dict)
    findings: list[str] = Field(default_factory=list)
    output_tail: str = ""
    cached: bool = False  # the result came from the gate cache (same gate, config and tree)


class MergeQueued(EventBase):
    type: Literal["MergeQueued"] = "MergeQueued"
    task_id: str
    attempt: int


class Merged(EventBase):
    type: Literal["Merged"] = "Merged"
    task_id: str
    attempt: int
    commit: str


class MergeConflict(EventBase):
    type: Literal["MergeConflict"] = "MergeConflict"
    task_id: str
    attempt: int
    detail: str


class EscalationRaised(EventBase):
    """A question for a human. ``options`` are the decisions the engine understands."""

    type: Literal["EscalationRaised"] = "EscalationRaised"
    escalation_id: str
    kind: Literal["twin", "review", "circuit_breaker", "budget", "merge", "task", "other"] = "other"
    question: str
    options: list[str] = Field(default_factory=list)  # e.g. ["approve", "reject", "change"]
    default: str | None = None  # taken on timeout
    timeout_s: float | None = None
    task_id: str | None = None
    context: str = ""  # diff, failing output, reviewer notes


class EscalationResolved(EventBase):
    type: Literal["EscalationResolved"] = "EscalationResolved"
    escalation_id: str
    decision: str  # one of the escalation's options
    decided_by: str  # "human:<user>", "twin", "policy:<name>", "timeout"
    note: str = ""


class QCScored(EventBase):
    """Code QC of the whole change, 0-100."""

    type: Literal["QCScored"] = "QCScored"
    model: str
    score: int
    threshold: int
    notes: str = ""
    commit: str = ""
    """The integration tip QC judged, so a resume on that tip need not judge it again;
    empty in logs written before QC recorded it."""


class VerificationFinished(EventBase):
    """The verifier tried to break the result; the judge scored its checklist out of 100."""

    type: Literal["VerificationFinished"] = "VerificationFinished"
    verifier_model: str
    judge_model: str
    broken: list[str] = Field(default_factory=list)  # what the verifier managed to break
    checklist: dict[str, bool] = Field(default_factory=dict)  # judge item -> passed
    score: int  # 0-100
    threshold: int
    passed: bool
    commit: str = ""
    """The integration tip verified, so a resume on that tip need not verify it again;
    empty in logs written before verification recorded it."""


class LearningRecorded(EventBase):
    type: Literal["LearningRecorded"] = "LearningRecorded"
    learning_id: str
    kind: Literal["trap", "rule", "decision"]
    text: str
    source: str  # where it came from: "retry:<task>", "review", "human:<esc>", ...
    tags: list[str] = Field(default_factory=list)


class RunFinished(EventBase):
    type: Literal["RunFinished"] = "RunFinished"
    outcome: Outcome
    reason: str = ""
    branch: str | None = None
    commit: str | None = None
