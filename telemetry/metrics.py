"""Prometheus metrics of the factory, derived from the event bus.

:class:`FactoryMetrics` folds events into the series of ``telemetry.metric_series``,
remembering what it needs of each run in a ``telemetry.run_fold.RunFold``. Label values pass
through the redactor and are cut to :data:`MAX_LABEL_LENGTH`.

It serves ``shopfloor --metrics-port`` for one live run and ``shopfloor serve-metrics`` for
every run recorded in a database: the same ``observe(event)`` folds both, so a run's numbers
are the same whether scraped live or replayed from the log.

The series an overnight alert watches are kept here too: when each run last made progress,
when its open escalations were raised, since when its merge queue has not moved (read at
scrape time, so they cost the event loop nothing), its storage writer's retries.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry

from engine.bus import Subscription
from engine.events import (
    AgentFinished,
    AgentOutput,
    AgentStarted,
    BlueprintProposed,
    BudgetUpdated,
    EscalationRaised,
    EscalationResolved,
    EventBase,
    GateFinished,
    LLMCallFinished,
    MergeConflict,
    Merged,
    MergeQueued,
    Outcome,
    RunFinished,
    RunStarted,
    Stage,
    StageChanged,
    TaskReviewed,
    TaskState,
    TaskStateChanged,
    utcnow,
)
from engine.redaction import Redactor
from engine.state import RunState
from telemetry.metric_series import DECIDED_BY_KINDS, MetricSeries
from telemetry.run_fold import ACTIVE_TASK_STATES, NOT_PROGRESS, RunFold

MAX_LABEL_LENGTH = 80


def decided_by_kind(decided_by: str) -> str:
    """``human:ana`` -> ``human``; ``twin``, ``policy:reject`` -> ``policy``, ``timeout``."""
    kind = decided_by.split(":", 1)[0].strip().lower()
    return kind if kind in DECIDED_BY_KINDS else "other"


STORAGE_AGENT = "storage"
"""The agent id of the storage writer's notices (retrying; ``recovered: ...``) on the bus."""


class FactoryMetrics(MetricSeries):
    """Prometheus series for every run whose events it observes."""

    def __init__(
        self, registry: CollectorRegistry | None = None, redactor: Redactor | None = None
    ) -> None:
        """A fresh set of series on ``registry`` (a new private one by default)."""
        super().__init__(registry)
        self.redactor = redactor if redactor is not None else Redactor.from_environ()
        self._runs: dict[str, RunFold] = {}
        self._unfinished: dict[str, RunFold] = {}
        self.last_progress.set_function(self._stalest_progress)
        self.escalation_oldest.set_function(self._oldest_escalation)
        self.merge_queue_since.set_function(self._queue_waiting_since)
        self._attempts_started = 0
        self._retries = 0
        self._finished = Tally[str]()
        self._first_attempt = 0
        self.changed_at = 0.0
        """When (``time.monotonic()``) the series last took events from :meth:`consume`, or
        :meth:`let_go` changed them: a scrape that started later saw their final values."""

    # -- feeding -----------------------------------------------------------------------------

    async def consume(self, subscription: Subscription) -> None:
        """Observe every event of a bus subscription until the bus closes."""
        with subscription.reading():
            while (batch := await subscription.get_batch()) is not None:
                for event in batch:
                    self.observe(event)
                self.changed_at = time.monotonic()
                subscription.task_done(len(batch))

    def observe_all(self, events: Iterable[EventBase]) -> None:
        """Observe recorded events in order (``serve-metrics`` replays the log this way)."""
        for event in events:
            self.observe(event)

    def resume(self, state: RunState, history: Iterable[EventBase] = ()) -> None:
        """Take over a run that an earlier process started (``shopfloor resume``).

        The resumed process sees no RunStarted and no earlier task states on its bus, so
        without this the run was not counted active and the task gauges held only what this
        process changed. The gauges start where the log left the run.

        ``history``, the run's stored events, is folded first, as ``serve-metrics`` folds
        it: the counters and histograms start at the run's totals so far (its spend, tokens,
        model calls, attempts, gate runs) instead of at zero, so a dashboard of one run
        shows the run's totals across a stop and resume, and live and replayed numbers stay
        the same. A prometheus-client counter only goes up, so this is the one clean way to
        seed it: an ``inc`` by what the log holds, before the first scrape. A scraper then
        sees the counter go on from (at least) where the earlier process left it, not reset
        (it is lower only by what that process counted but never logged). Without
        ``history``, counters count this process alone, as Prometheus allows across a restart.
        """
        if not state.run_id or state.outcome is not Outcome.RUNNING:
            return
        self.observe_all(e for e in history if e.run_id == state.run_id)
        run = self._run(state.run_id)
        if run.started or run.finished:
            return
        run.started = True
        self.runs_active.inc()
        self._set_stage(run, state.stage)
        for task in state.tasks.values():
            self._set_task(run, task.id, task.state)
        now = utcnow()  # without the log, this process's start is the earliest it knows
        for escalation in state.open_escalations:
            run.open_escalations[escalation.escalation_id] = now
            self.escalations_open.inc()
        run.last_progress = now

    def _label(self, value: str) -> str:
        return self.redactor.redact(value)[:MAX_LABEL_LENGTH] or "unknown"

    def _run(self, run_id: str) -> RunFold:
        fold = self._runs.get(run_id)
        if fold is None:
            fold = self._runs[run_id] = self._unfinished[run_id] = RunFold()
        return fold

    def set_stopped(self, run_id: str, stopped: bool) -> None:
        """Whether ``run_id``'s process is gone (SIGKILL writes nothing: ``serve-metrics``
        tells by the run's lease). A stopped run is in no stage, and its tasks that were
        under way are not running: the gauges show what goes on now. Its first event after
        (a resume, ``abandon``) puts it back."""
        run = self._runs.get(run_id)
        if run is None or run.finished or run.stopped == stopped:
            return
        sign = -1 if stopped else 1
        self._count_under_way(run, sign)
        self.runs_stopped.inc(-sign)
        run.stopped = stopped

    def _count_under_way(self, run: RunFold, sign: int) -> None:
        """Count ``run``'s stage and its tasks under way in the gauges (1) or out (-1)."""
        if run.stage is not None:
            self.stage.labels(stage=run.stage.value).inc(sign)
        for state in run.tasks.values():
            if state in ACTIVE_TASK_STATES:
                self.tasks.labels(state=state.value).inc(sign)

    def let_go(self) -> None:
        """This process ends: a run it leaves unfinished (a "stop" answer, a signal, a database
        out of reach) is no longer counted active, in a stage or with work under way, so the
        endpoint's last scrape does not say a run goes on. Another process may resume it."""
        for run_id, run in list(self._unfinished.items()):
            if run.started and not run.stopped:
                self._count_under_way(run, -1)
                self.runs_active.dec()
            run.finished = True  # nothing more is folded into it
            del self._unfinished[run_id]
            self.changed_at = time.monotonic()

    def observe(self, event: EventBase) -> None:
        """Fold one event into the series."""
        run = self._run(event.run_id)
        if run.finished:
            return
        if run.stopped:  # it goes on (resumed) or ends (abandoned): counted again first
            self.set_stopped(event.run_id, False)
        match event:
            case RunStarted():
                if not run.started:
                    run.started = True
                    self.runs_active.inc()
                    if run.stage is None:  # as RunState has it: a started run is in intake
                        self._set_stage(run, Stage.INTAKE)
            case StageChanged():
                self._set_stage(run, event.stage)
            case BlueprintProposed():
                for task in event.blueprint.tasks:
                    if task.id not in run.tasks:
                        self._set_task(run, task.id, TaskState.PENDING)
            case TaskStateChanged():
                self._task_state(run, event)
            case GateFinished():
                self._gate(run, event)
            case MergeQueued():
                if event.task_id not in run.queued:
                    run.queued[event.task_id] = event.ts
                    self.merge_queue_depth.inc()
            case Merged():
                self._unqueue(run, event.task_id, event.ts)
                self._end_attempt(run, event.task_id, event.attempt, "merged")
                self._task_finished(run, event.task_id, event.attempt, event.ts, merged=True)
            case MergeConflict():
                self._unqueue(run, event.task_id, event.ts)
                self._end_attempt(run, event.task_id, event.attempt, "merge_conflict")
            case TaskReviewed():
                self.task_reviews.labels(result="approved" if event.approved else "rejected").inc()
                if not event.approved:
                    self._end_attempt(run, event.task_id, event.attempt, "review_rejected")
            case LLMCallFinished():
                self._llm(event)
            case AgentOutput(agent_id=agent, kind="notice") if agent == STORAGE_AGENT:
                self._storage_notice(event.text)
            case AgentStarted():
                run.agent_roles[event.agent_id] = self._label(event.role)
            case AgentFinished():
                role = run.agent_roles.pop(event.agent_id, "unknown")
                self.agent_runs.labels(role=role, result="ok" if event.ok else "failed").inc()
            case EscalationRaised():
                self.escalations_raised.labels(kind=event.kind).inc()
                if event.escalation_id not in run.open_escalations:
                    run.open_escalations[event.escalation_id] = event.ts
                    self.escalations_open.inc()
            case EscalationResolved():
                self.escalations_decided.labels(
                    decided_by_kind=decided_by_kind(event.decided_by)
                ).inc()
                if run.open_escalations.pop(event.escalation_id, None) is not None:
                    self.escalations_open.dec()
            case BudgetUpdated() if event.scope == "run":
                if event.max_tokens:
                    self.budget_used.labels(limit="tokens").set(event.tokens / event.max_tokens)
                if event.max_cost_usd:
                    self.budget_used.labels(limit="cost").set(event.cost_usd / event.max_cost_usd)
                if event.max_duration_s:
                    used = event.duration_s / event.max_duration_s
                    self.budget_used.labels(limit="time").set(used)
            case RunFinished():
                self._run_finished(event.run_id, run, event)
        if not isinstance(event, NOT_PROGRESS):
            run.last_progress = event.ts

    # -- pieces ------------------------------------------------------------------------------

    def _set_stage(self, run: RunFold, stage: Stage | None) -> None:
        if run.stage is not None:
            self.stage.labels(stage=run.stage.value).dec()
        run.stage = stage
        if stage is not None:
            self.stage.labels(stage=stage.value).inc()

    def _set_task(self, run: RunFold, task_id: str, state: TaskState) -> None:
        old = run.tasks.get(task_id)
        if old is state:
            return
        if old is not None:
            self.tasks.labels(state=old.value).dec()
        run.tasks[task_id] = state
        self.tasks.labels(state=state.value).inc()

    def _task_state(self, run: RunFold, event: TaskStateChanged) -> None:
        self._set_task(run, event.task_id, event.state)
        key = (event.task_id, event.attempt)
        if event.state is TaskState.RUNNING and event.attempt and key not in run.attempts_seen:
            run.attempts_seen.add(key)
            run.first_running.setdefault(event.task_id, event.ts)
            self._attempts_started += 1
            if event.attempt > 1:
                self._retries += 1
                self.retries.inc()
            self.rework_ratio.set(self._retries / self._attempts_started)
        if event.state is not TaskState.MERGING:
            self._unqueue(run, event.task_id, event.ts)
        if event.state is TaskState.FAILED:
            self._end_attempt(run, event.task_id, event.attempt, "failed")
            self._task_finished(run, event.task_id, event.attempt, event.ts, merged=False)

    def _gate(self, run: RunFold, event: GateFinished) -> None:
        gate = self._label(event.gate)
        result = "passed" if event.passed else "failed"
        self.gate_runs.labels(gate=gate, scope=event.scope, result=result).inc()
        if event.cached:
            self.gate_cache_hits.labels(gate=gate).inc()
            # Its duration series is served too (at count 0 while every run of it was a hit):
            # a dashboard's duration panel finds the gate rather than no such series.
            self.gate_duration.labels(gate=gate)
        else:
            self.gate_duration.labels(gate=gate).observe(max(event.duration_s, 0.0))
        if not event.passed and event.task_id is not None:
            outcome = "gates_failed" if event.scope == "task" else f"{event.scope}_gates_failed"
            self._end_attempt(run, event.task_id, event.attempt, outcome)

    def _end_attempt(self, run: RunFold, task_id: str, attempt: int, outcome: str) -> None:
        key = (task_id, attempt)
        if attempt and key not in run.attempts_ended:
            run.attempts_ended.add(key)
            self.attempts.labels(outcome=outcome).inc()

    def _unqueue(self, run: RunFold, task_id: str, ts: datetime) -> None:
        if run.queued.pop(task_id, None) is not None:
            run.queue_moved = ts
            self.merge_queue_depth.dec()

    def _storage_notice(self, text: str) -> None:
        if text.startswith("recovered"):
            self.storage_retrying.set(0)
        else:
            self.storage_retrying.set(1)
            self.storage_retries.inc()

    # -- read at scrape time (the endpoint's thread): each ``min`` reads a dict in one step

    def _runs_now(self) -> list[RunFold]:
        return list(self._unfinished.values())  # finished runs leave it: a handful

    def _stalest_progress(self) -> float:
        """When the run under way that waits for nobody and has gone longest without
        progress last made some (0: none)."""
        times = [
            run.last_progress
            for run in self._runs_now()
            if run.started and not run.stopped and not run.open_escalations and run.last_progress
        ]
        return min(times).timestamp() if times else 0.0

    def _oldest_escalation(self) -> float:
        """When the escalation waiting longest was raised (0: none waits)."""
        times = [
            t for run in self._runs_now() if (t := min(run.open_escalations.values(), default=None))
        ]
        return min(times).timestamp() if times else 0.0

    def _queue_waiting_since(self) -> float:
        """Since when the merge queue that moved least recently has not moved (0: empty)."""
        times = [t for run in self._runs_now() if (t := run.queue_waiting_since())]
        return min(times).timestamp() if times else 0.0

    def _task_finished(
        self, run: RunFold, task_id: str, attempt: int, ts: datetime, *, merged: bool
    ) -> None:
        result = "merged" if merged else "failed"
        self.tasks_finished.labels(result=result).inc()
        self._finished[result] += 1
        if merged:
            started = run.first_running.get(task_id)
            if started is not None:
                self.time_to_merge.observe(max((ts - started).total_seconds(), 0.0))
            if attempt == 1:
                self._first_attempt += 1
                self.first_attempt_merges.inc()
        total = sum(self._finished.values())
        self.acceptance_ratio.set(self._first_attempt / total if total else 0.0)

    def _llm(self, event: LLMCallFinished) -> None:
        provider, model, role = (
            self._label(event.provider),
            self._label(event.model),
            self._label(event.role),
        )
        self.llm_requests.labels(provider=provider, model=model, role=role).inc()
        for kind, count in (
            ("input", event.input_tokens),
            ("output", event.output_tokens),
            ("cache_read", event.cache_read_tokens),
            ("cache_write", event.cache_write_tokens),
        ):
            series = self.llm_tokens.labels(provider=provider, model=model, role=role, kind=kind)
            if count > 0:
                series.inc(count)
        if event.cost_usd > 0:
            self.llm_cost.labels(provider=provider, model=model, role=role).inc(event.cost_usd)
        else:
            self.llm_cost.labels(provider=provider, model=model, role=role)
        self.llm_latency.labels(provider=provider, model=model).observe(max(event.latency_s, 0.0))

    def _run_finished(self, run_id: str, run: RunFold, event: RunFinished) -> None:
        self.runs_total.labels(outcome=event.outcome.value).inc()
        if run.started:
            self.runs_active.dec()
        self._set_stage(run, None)
        for task_id in list(run.queued):
            self._unqueue(run, task_id, event.ts)
        self.escalations_open.dec(len(run.open_escalations))
        run.open_escalations.clear()
        run.finished = True
        self._unfinished.pop(run_id, None)
        # Keep only what the gauges still count (task states); the rest is history.
        run.attempts_seen.clear()
        run.attempts_ended.clear()
        run.first_running.clear()
        run.agent_roles.clear()
