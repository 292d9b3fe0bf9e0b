"""OpenTelemetry traces of a run, built from its events after the fact.

:class:`RunTracer` subscribes to the bus and turns one run into one trace::

    run -> stage -> task -> attempt -> invoke_agent -> chat (one per LLM call)
                                    -> gate (task gates)
                                    -> merge -> gate (merge gates)
               -> gate (verify gates), escalation, invoke_agent (planner, critic, ...)

Events arrive after what they describe happened, so every span is created with explicit
start and end times taken from event timestamps (an LLM call starts ``latency_s`` before its
LLMCallFinished; a gate ``duration_s`` before its GateFinished). LLM and agent spans carry the
GenAI semantic-convention attributes (``gen_ai.system``, ``gen_ai.operation.name``,
``gen_ai.request.model``, ``gen_ai.usage.input_tokens``, ...). What an agent said (its
completions) and the run's request are recorded only when ``content`` is on; every string
attribute passes through the redactor either way.

The tracer uses its own ``TracerProvider``, never the global one: exporting is decided by
``telemetry.span_export.make_tracer_provider`` (OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT``
is set, a JSON lines file when asked, else none). Starting and ending spans at event times,
with redacted attributes, is ``telemetry.run_spans``; a run's trace id, the same in every
process that resumes it, is ``telemetry.trace_ids``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind

from engine.bus import Subscription
from engine.events import (
    AgentFinished,
    AgentOutput,
    AgentStarted,
    CriticScored,
    EscalationRaised,
    EscalationResolved,
    EventBase,
    GateFinished,
    KillGateTripped,
    LLMCallFinished,
    MergeConflict,
    Merged,
    MergeQueued,
    Outcome,
    QCScored,
    ReviewRoundFinished,
    RunFinished,
    RunStarted,
    StageChanged,
    TaskState,
    TaskStateChanged,
    TwinDecided,
    VerificationFinished,
)
from engine.redaction import Redactor
from engine.state import RunState
from telemetry.run_spans import AttrValue, RunSpans, SpanWriter, ns
from telemetry.trace_ids import RunRoot, RunTraceIds

TRACER_NAME = "shopfloor"


class RunTracer:
    """Builds one trace per run from the run's events; with a provider whose ids are
    :class:`RunTraceIds` (``make_tracer_provider``'s), the processes that resume it add to it."""

    def __init__(
        self,
        provider: trace.TracerProvider,
        *,
        content: bool = False,
        redactor: Redactor | None = None,
    ) -> None:
        """``content`` records the run's request and what agents said on the spans."""
        self.tracer = provider.get_tracer(TRACER_NAME)
        self.content = content
        self.redactor = redactor if redactor is not None else Redactor.from_environ()
        self.writer = SpanWriter(self.tracer, self.redactor)
        ids = getattr(provider, "id_generator", None)
        self.ids = ids if isinstance(ids, RunTraceIds) else None
        self._runs: dict[str, RunSpans] = {}

    async def consume(self, subscription: Subscription) -> None:
        """Trace every event of a bus subscription until the bus closes."""
        with subscription.reading():
            while (batch := await subscription.get_batch()) is not None:
                for event in batch:
                    self.observe(event)
                subscription.task_done(len(batch))

    def resume(self, state: RunState, at: datetime | None = None) -> None:
        """Open the root span of a run an earlier process started (``shopfloor resume``).

        The resumed process's bus carries no RunStarted: without a root, each stage it went
        through became a trace of its own. The root is named as the run's first one, marked
        ``shopfloor.resumed``, and (with :class:`RunTraceIds`) is a second root in the run's
        own trace, linked to the first process's root.
        """
        if not state.run_id or state.outcome is not Outcome.RUNNING:
            return
        run = self._runs.setdefault(state.run_id, RunSpans())
        if run.run is not None:
            return
        start = ns(at or datetime.now(UTC))
        run.last_ns = max(run.last_ns, start)
        root = (
            RunRoot.of(state.run_id, datetime.fromisoformat(state.started_at))
            if state.started_at
            else None
        )
        resumed = {"shopfloor.resumed": True, "shopfloor.resumed_at_seq": state.last_seq}
        self._open_root(run, state, start, root, resumed)

    def _open_root(
        self,
        run: RunSpans,
        source: RunStarted | RunState,
        at: int,
        root: RunRoot | None,
        resumed: Mapping[str, AttrValue] | None = None,
    ) -> None:
        """Start ``run``'s root span at ``at``: in ``root``'s trace when the provider's ids are
        :class:`RunTraceIds` (a resumed root linked to the first), else in a random one."""
        ids: AbstractContextManager[None] = nullcontext()
        links: list[Link] = []
        if self.ids is not None and root is not None:
            ids = self.ids.root(root, first=resumed is None)
            links = [Link(root.first_root())] if resumed is not None else []
        with ids:
            run.run = self.writer.start(
                f"run {source.mode}",
                None,
                at,
                {
                    "shopfloor.run_id": source.run_id,
                    "shopfloor.mode": source.mode,
                    "shopfloor.repo": source.repo,
                    "shopfloor.base_branch": source.base_branch,
                    "shopfloor.integration_branch": source.integration_branch,
                    "shopfloor.simulated": source.simulated,
                    **(resumed or {}),
                    "shopfloor.request": source.request if self.content else None,
                },
                SpanKind.SERVER,
                links,
            )

    # -- the fold ---------------------------------------------------------------------------

    def observe(self, event: EventBase) -> None:
        """Turn one event into span starts, ends and span events."""
        run = self._runs.setdefault(event.run_id, RunSpans())
        at = ns(event.ts)
        run.last_ns = max(run.last_ns, at)
        match event:
            case RunStarted():
                self._open_root(run, event, at, RunRoot.of(event.run_id, event.ts))
            case StageChanged():
                self.writer.end(run.stage, at)
                run.stage = self.writer.start(
                    f"stage {event.stage.value}",
                    run.run,
                    at,
                    {"shopfloor.stage": event.stage.value},
                )
            case TaskStateChanged():
                self._task_state(run, event, at)
            case AgentStarted():
                parent = run.attempt_span(event.task_id, event.attempt) or run.parent()
                run.agents[event.agent_id] = self.writer.start(
                    f"invoke_agent {event.role}",
                    parent,
                    at,
                    {
                        "gen_ai.operation.name": "invoke_agent",
                        "gen_ai.agent.name": event.role,
                        "gen_ai.agent.id": event.agent_id,
                        "gen_ai.request.model": event.model,
                        "shopfloor.simulated": event.simulated,
                        "shopfloor.task.id": event.task_id,
                        "shopfloor.attempt": event.attempt or None,
                    },
                )
            case AgentOutput() if self.content:
                agent = run.agents.get(event.agent_id)
                if agent is not None:
                    agent.add_event(
                        "gen_ai.choice",
                        self.writer.attrs(
                            {"shopfloor.output.kind": event.kind, "gen_ai.completion": event.text}
                        ),
                        timestamp=at,
                    )
            case AgentFinished():
                agent = run.agents.pop(event.agent_id, None)
                if agent is not None:
                    agent.set_attribute("shopfloor.agent.ok", event.ok)
                    if self.content and event.summary:
                        agent.set_attribute(
                            "shopfloor.agent.summary", self.writer.text(event.summary)
                        )
                    self.writer.end(agent, at, None if event.ok else "agent failed")
            case LLMCallFinished():
                self._llm_call(run, event, at)
            case GateFinished():
                self._gate(run, event, at)
            case MergeQueued():
                parent = run.attempt_span(event.task_id, event.attempt) or run.parent()
                run.merges[event.task_id] = self.writer.start(
                    f"merge {event.task_id}",
                    parent,
                    at,
                    {"shopfloor.task.id": event.task_id, "shopfloor.attempt": event.attempt},
                )
            case Merged():
                merge = run.merges.pop(event.task_id, None)
                if merge is not None:
                    merge.set_attribute("shopfloor.merge.commit", event.commit)
                self.writer.end(merge, at)
            case MergeConflict():
                self.writer.end(run.merges.pop(event.task_id, None), at, "merge conflict")
            case EscalationRaised():
                parent = run.attempt_span(event.task_id, 0) or run.parent()
                run.escalations[event.escalation_id] = self.writer.start(
                    f"escalation {event.kind}",
                    parent,
                    at,
                    {
                        "shopfloor.escalation.id": event.escalation_id,
                        "shopfloor.escalation.kind": event.kind,
                        "shopfloor.escalation.question": event.question,
                        "shopfloor.task.id": event.task_id,
                    },
                )
            case EscalationResolved():
                span = run.escalations.pop(event.escalation_id, None)
                if span is not None:
                    span.set_attribute(
                        "shopfloor.escalation.decision", self.writer.text(event.decision)
                    )
                    span.set_attribute(
                        "shopfloor.escalation.decided_by", self.writer.text(event.decided_by)
                    )
                self.writer.end(span, at)
            case CriticScored() | QCScored() | VerificationFinished() | TwinDecided():
                self._score(run, event, at)
            case ReviewRoundFinished():
                self._span_event(
                    run,
                    "review round",
                    at,
                    {
                        "shopfloor.review.round": event.round,
                        "shopfloor.review.passed": event.passed,
                    },
                )
            case KillGateTripped():
                self._span_event(
                    run,
                    "kill gate",
                    at,
                    {"shopfloor.kill_gate": event.gate, "shopfloor.reason": event.reason},
                )
            case RunFinished():
                self._run_finished(run, event, at)
                del self._runs[event.run_id]

    def _span_event(
        self, run: RunSpans, name: str, at: int, attributes: Mapping[str, AttrValue | None]
    ) -> None:
        parent = run.parent()
        if parent is not None:
            parent.add_event(name, self.writer.attrs(attributes), timestamp=at)

    def _score(
        self,
        run: RunSpans,
        event: CriticScored | QCScored | VerificationFinished | TwinDecided,
        at: int,
    ) -> None:
        match event:
            case CriticScored():
                self._span_event(run, "critic scored", at, {"shopfloor.score": event.total})
            case QCScored():
                self._span_event(run, "qc scored", at, {"shopfloor.score": event.score})
            case VerificationFinished():
                self._span_event(
                    run,
                    "verification",
                    at,
                    {"shopfloor.score": event.score, "shopfloor.passed": event.passed},
                )
            case TwinDecided():
                self._span_event(
                    run,
                    "twin decided",
                    at,
                    {
                        "shopfloor.decision": event.decision,
                        "shopfloor.confidence": event.confidence,
                    },
                )

    def _task_state(self, run: RunSpans, event: TaskStateChanged, at: int) -> None:
        task_id = event.task_id
        if event.state is TaskState.PENDING:
            return
        task = run.tasks.get(task_id)
        if task is None:
            task = run.tasks[task_id] = self.writer.start(
                f"task {task_id}", run.parent(), at, {"shopfloor.task.id": task_id}
            )
        if event.state is TaskState.RUNNING and event.attempt:
            current = run.attempts.get(task_id)
            if current is None or current[0] != event.attempt:
                if current is not None:
                    self.writer.end(current[1], at, "retried")
                run.attempts[task_id] = (
                    event.attempt,
                    self.writer.start(
                        f"attempt {task_id}#{event.attempt}",
                        task,
                        at,
                        {"shopfloor.task.id": task_id, "shopfloor.attempt": event.attempt},
                    ),
                )
                task.set_attribute("shopfloor.task.attempts", event.attempt)
        if event.state in (TaskState.MERGED, TaskState.FAILED, TaskState.BLOCKED):
            error = None if event.state is TaskState.MERGED else event.reason or event.state.value
            self.writer.end(run.merges.pop(task_id, None), at, error)
            attempt = run.attempts.pop(task_id, None)
            if attempt is not None:
                self.writer.end(attempt[1], at, error)
            task.set_attribute("shopfloor.task.state", event.state.value)
            self.writer.end(run.tasks.pop(task_id), at, error)

    def _llm_call(self, run: RunSpans, event: LLMCallFinished, at: int) -> None:
        parent = run.agents.get(event.agent_id) or run.parent()
        start = at - int(max(event.latency_s, 0.0) * 1e9)
        span = self.writer.start(
            f"chat {event.model}",
            parent,
            start,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.system": event.provider,
                "gen_ai.provider.name": event.provider,
                "gen_ai.request.model": event.model,
                "gen_ai.response.model": event.model,
                "gen_ai.usage.input_tokens": event.input_tokens,
                "gen_ai.usage.output_tokens": event.output_tokens,
                "gen_ai.usage.cache_read.input_tokens": event.cache_read_tokens,
                "gen_ai.usage.cache_creation.input_tokens": event.cache_write_tokens,
                "gen_ai.agent.id": event.agent_id,
                "shopfloor.role": event.role,
                "shopfloor.cost_usd": event.cost_usd,
                "shopfloor.simulated": event.simulated,
            },
            SpanKind.CLIENT,
        )
        self.writer.end(span, at)

    def _gate(self, run: RunSpans, event: GateFinished, at: int) -> None:
        if event.scope == "merge" and event.task_id in run.merges:
            parent: Span | None = run.merges[event.task_id]
        elif event.scope == "task":
            parent = run.attempt_span(event.task_id, event.attempt) or run.parent()
        else:
            parent = run.parent()
        attributes: dict[str, AttrValue | None] = {
            "shopfloor.gate.name": event.gate,
            "shopfloor.gate.scope": event.scope,
            "shopfloor.gate.passed": event.passed,
            "shopfloor.gate.cached": event.cached,
            "shopfloor.gate.summary": event.summary,
            "shopfloor.task.id": event.task_id,
            "shopfloor.attempt": event.attempt or None,
        }
        for key, count in event.counts.items():
            attributes[f"shopfloor.gate.count.{key}"] = count
        start = at - int(max(event.duration_s, 0.0) * 1e9)
        span = self.writer.start(f"gate {event.gate}", parent, start, attributes)
        self.writer.end(span, at, None if event.passed else event.summary)
        if not event.passed and event.scope == "merge" and event.task_id is not None:
            self.writer.end(run.merges.pop(event.task_id, None), at, "merge gates failed")

    def _run_finished(self, run: RunSpans, event: RunFinished, at: int) -> None:
        failed = event.outcome in (Outcome.FAILED, Outcome.KILLED)
        run.end_open(at, event.reason or event.outcome.value if failed else None)
        if run.run is not None:
            run.run.set_attribute("shopfloor.outcome", event.outcome.value)
            if event.reason:
                run.run.set_attribute("shopfloor.reason", self.writer.text(event.reason))
            if event.branch:
                run.run.set_attribute("shopfloor.branch", event.branch)
            self.writer.end(run.run, at, event.reason or event.outcome.value if failed else None)
            run.run = None

    def close(self) -> None:
        """End the spans of runs that never finished (a killed or interrupted run)."""
        for run in self._runs.values():
            run.end_open(run.last_ns, "interrupted")
            if run.run is not None:
                run.run.set_attribute("shopfloor.interrupted", True)
                self.writer.end(run.run, run.last_ns, "interrupted")
        self._runs.clear()
