"""The Prometheus series of the factory: their names, help texts, labels and buckets.

:class:`MetricSeries` owns its own ``CollectorRegistry`` (never the process-global one, so two
runs or a test never collide) and declares every series on it, named by Prometheus
conventions: a ``shopfloor_`` prefix, base units in the name (``_seconds``, ``_usd``),
``_total`` on counters. Label values are bounded: gate names, scopes, results, providers,
models, roles, states, never a task id or run id. What moves the series is
``telemetry.metrics``, which folds the run's events into them.
"""

from __future__ import annotations

from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from engine.events import EscalationRaised, Outcome, Stage, TaskState

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
GATE_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
MERGE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
ATTEMPT_OUTCOMES = (
    "merged",
    "merge_conflict",
    "review_rejected",
    "failed",
    "gates_failed",
    "merge_gates_failed",
    "verify_gates_failed",
)
"""How an engineer's attempt ends (``shopfloor_attempts_total``'s ``outcome``)."""
DECIDED_BY_KINDS = ("human", "twin", "policy", "timeout", "other")
"""Who decided an escalation (``shopfloor_escalations_decided_total``'s ``decided_by_kind``)."""
ESCALATION_KINDS: tuple[str, ...] = get_args(EscalationRaised.model_fields["kind"].annotation)


class MetricSeries:
    """Every series the factory exports, declared on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """The series on ``registry`` (a new private one by default)."""
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs_total = Counter(
            "shopfloor_runs_total", "Runs that finished, by outcome", ["outcome"], registry=r
        )
        self.runs_active = Gauge("shopfloor_runs_active", "Runs under way", registry=r)
        self.stage = Gauge(
            "shopfloor_stage", "Runs under way in each pipeline stage", ["stage"], registry=r
        )
        self.tasks = Gauge("shopfloor_tasks", "Tasks in each state", ["state"], registry=r)
        self.attempts = Counter(
            "shopfloor_attempts_total",
            "Engineer attempts that ended, by outcome",
            ["outcome"],
            registry=r,
        )
        self.retries = Counter(
            "shopfloor_retries_total", "Attempts beyond a task's first", registry=r
        )
        self.gate_runs = Counter(
            "shopfloor_gate_runs_total", "Gate runs", ["gate", "scope", "result"], registry=r
        )
        self.gate_duration = Histogram(
            "shopfloor_gate_duration_seconds",
            "Wall time of gate runs (cache hits excluded)",
            ["gate"],
            buckets=GATE_BUCKETS,
            registry=r,
        )
        self.gate_cache_hits = Counter(
            "shopfloor_gate_cache_hits_total",
            "Gate results served from the gate cache",
            ["gate"],
            registry=r,
        )
        llm = ["provider", "model", "role"]
        self.llm_requests = Counter("shopfloor_llm_requests_total", "Model calls", llm, registry=r)
        self.llm_tokens = Counter(
            "shopfloor_llm_tokens_total",
            "Tokens by kind (input, output, cache_read, cache_write)",
            [*llm, "kind"],
            registry=r,
        )
        self.llm_cost = Counter(
            "shopfloor_llm_cost_usd_total", "Model spend in US dollars", llm, registry=r
        )
        self.llm_latency = Histogram(
            "shopfloor_llm_latency_seconds",
            "Model call latency",
            ["provider", "model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.escalations_open = Gauge(
            "shopfloor_escalations_open", "Escalations waiting for a decision", registry=r
        )
        self.escalations_raised = Counter(
            "shopfloor_escalations_raised_total",
            "Escalations raised, by kind",
            ["kind"],
            registry=r,
        )
        self.escalations_decided = Counter(
            "shopfloor_escalations_decided_total",
            "Escalations decided, by who decided",
            ["decided_by_kind"],
            registry=r,
        )
        self.merge_queue_depth = Gauge(
            "shopfloor_merge_queue_depth",
            "Tasks queued for or inside the merge queue",
            registry=r,
        )
        self.budget_used = Gauge(
            "shopfloor_budget_used_ratio",
            "Latest run's spend over its limit (1 = at the limit)",
            ["limit"],
            registry=r,
        )
        self.time_to_merge = Histogram(
            "shopfloor_task_time_to_merge_seconds",
            "From a task's first attempt starting to its merge",
            buckets=MERGE_BUCKETS,
            registry=r,
        )
        self.tasks_finished = Counter(
            "shopfloor_tasks_finished_total", "Tasks that merged or failed", ["result"], registry=r
        )
        self.first_attempt_merges = Counter(
            "shopfloor_tasks_merged_first_attempt_total",
            "Tasks merged on their first attempt",
            registry=r,
        )
        self.acceptance_ratio = Gauge(
            "shopfloor_first_attempt_acceptance_ratio",
            "Finished tasks merged on their first attempt, over all finished tasks",
            registry=r,
        )
        self.rework_ratio = Gauge(
            "shopfloor_rework_ratio", "Attempts beyond the first over all attempts", registry=r
        )
        self.agent_runs = Counter(
            "shopfloor_agent_runs_total",
            "Agent runs that ended, by role and result",
            ["role", "result"],
            registry=r,
        )
        self.task_reviews = Counter(
            "shopfloor_task_reviews_total", "Task reviewer verdicts", ["result"], registry=r
        )
        self._declare_watch_series()
        for stage in Stage:
            self.stage.labels(stage=stage.value)
        for state in TaskState:
            self.tasks.labels(state=state.value)
        # Counters whose label values are known up front start at 0, so an alert's
        # increase() sees their first step (a series born at 1 has no increase to show).
        for outcome in ATTEMPT_OUTCOMES:
            self.attempts.labels(outcome=outcome)
        for kind in ESCALATION_KINDS:
            self.escalations_raised.labels(kind=kind)
        for result in ("merged", "failed"):
            self.tasks_finished.labels(result=result)
        for result in ("approved", "rejected"):
            self.task_reviews.labels(result=result)
        for decided_by in DECIDED_BY_KINDS:
            self.escalations_decided.labels(decided_by_kind=decided_by)
        for outcome in Outcome:
            if outcome is not Outcome.RUNNING:
                self.runs_total.labels(outcome=outcome.value)

    def _declare_watch_series(self) -> None:
        """What an operator's alerts watch overnight: when things last moved, and whether
        a run's process or its storage is in trouble. Timestamps are the events' own (Unix
        seconds), so a run replayed by ``serve-metrics`` shows the times it had live."""
        r = self.registry
        self.last_progress = Gauge(
            "shopfloor_last_progress_timestamp_seconds",
            "When the run under way that has gone longest without progress last made some "
            "(a stage, a task's state, a gate, a merge, an agent's turn, a decision); runs "
            "waiting for a decision or whose process is gone are left out; 0 when none",
            registry=r,
        )
        self.escalation_oldest = Gauge(
            "shopfloor_escalations_oldest_open_timestamp_seconds",
            "When the escalation waiting longest for a decision was raised; 0 when none waits",
            registry=r,
        )
        self.merge_queue_since = Gauge(
            "shopfloor_merge_queue_waiting_since_timestamp_seconds",
            "Since when the merge queue has not moved: the later of its oldest entry and the "
            "last task to leave it; 0 when it is empty",
            registry=r,
        )
        self.runs_stopped = Gauge(
            "shopfloor_runs_stopped",
            "Runs under way whose process is gone (serve-metrics: no live lease)",
            registry=r,
        )
        self.storage_retrying = Gauge(
            "shopfloor_storage_retrying",
            "1 while the storage writer is retrying a batch of the run's events",
            registry=r,
        )
        self.storage_retries = Counter(
            "shopfloor_storage_write_retries_total",
            "Batches of events whose storing failed and was retried",
            registry=r,
        )

    def render(self) -> bytes:
        """The text exposition format, as /metrics serves it."""
        return generate_latest(self.registry)
