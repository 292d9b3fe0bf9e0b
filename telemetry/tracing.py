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
:func:`make_tracer_provider` (OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set, a JSON
lines file when asked, else none).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

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

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ATTRIBUTE_LENGTH = 4096
TRACER_NAME = "shopfloor"
log = logging.getLogger(__name__)
OTLP_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

AttrValue = str | bool | int | float


def ns(ts: datetime) -> int:
    """Nanoseconds since the epoch, exact to the microsecond, as OpenTelemetry wants times."""
    return ((ts - _EPOCH) // timedelta(microseconds=1)) * 1000


class JsonLinesSpanExporter(SpanExporter):
    """Writes each finished span as one JSON line (``--trace-file``)."""

    def __init__(self, path: Path) -> None:
        """Open ``path`` for appending; raises OSError when it cannot be written."""
        self.path = path
        self._lock = threading.Lock()
        self._file: IO[str] | None = path.open("a", encoding="utf-8")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append ``spans``, one JSON object per line."""
        with self._lock:
            if self._file is None:
                return SpanExportResult.FAILURE
            for span in spans:
                self._file.write(span.to_json(indent=None) + "\n")
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Close the file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Everything is flushed after each export already."""
        return True


OTLP_LOGGER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
"""Where the OTLP/HTTP span exporter logs every retry and every failed batch."""


class _ExportLog(logging.Filter):
    """Holds back the OTLP exporter's own log records and keeps the first of each export."""

    def __init__(self) -> None:
        super().__init__()
        self.first: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if self.first is None:
            args = record.args
            if str(record.msg).startswith("Transient error") and isinstance(args, tuple) and args:
                self.first = str(args[0])  # "Transient error %s encountered while ...": why
            else:
                self.first = record.getMessage()
        return False


class OutageReportingExporter(SpanExporter):
    """An exporter that says once when its collector stops answering, and once when it is back.

    While a collector is down, OpenTelemetry's OTLP exporter logs each retry of each batch:
    four long lines every few seconds, for as long as the run lasts, between the headless
    console's lines. Here they are held back; the first failure of an outage is one line
    with the endpoint and the first reason, the first success after it another.
    """

    def __init__(self, inner: SpanExporter, endpoint: str, logger_name: str = OTLP_LOGGER) -> None:
        self.inner = inner
        self.endpoint = endpoint
        self.failing = False
        self._held = _ExportLog()
        self._logger = logging.getLogger(logger_name)
        self._logger.addFilter(self._held)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export through the inner exporter; report the outage's start and end."""
        self._held.first = None
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            if self.failing:
                self.failing = False
                log.warning("traces: %s answers again; exporting spans", self.endpoint)
        elif not self.failing:
            self.failing = True
            why = (self._held.first or "no reason given")[:300]
            log.warning(
                "traces: cannot export spans to %s (%s); spans are dropped until it answers",
                self.endpoint,
                why,
            )
        return result

    def shutdown(self) -> None:
        """Shut the inner exporter down and let its logger speak again."""
        try:
            self.inner.shutdown()
        finally:
            self._logger.removeFilter(self._held)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the inner exporter."""
        return self.inner.force_flush(timeout_millis)


def otlp_endpoint(environ: Mapping[str, str] | None = None) -> str:
    """The traces endpoint the OTLP exporter posts to, as the standard variables name it,
    without any user or password it carries (it is shown in the log)."""
    env = os.environ if environ is None else environ
    url = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if not url:
        url = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip().rstrip("/") + "/v1/traces"
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def otlp_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment names an OTLP endpoint to export traces to."""
    env = os.environ if environ is None else environ
    return any(env.get(name, "").strip() for name in OTLP_ENV)


def make_tracer_provider(
    trace_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    exporters: Sequence[SpanExporter] = (),
) -> TracerProvider | None:
    """A private tracer provider exporting where configured, or None when nothing is.

    OTLP/HTTP (the exporter reads the standard ``OTEL_EXPORTER_OTLP_*`` variables) when an
    endpoint is set; a JSON lines file when ``trace_file`` is given; plus any ``exporters``
    (tests pass an in-memory one).
    """
    chosen: list[SpanExporter] = list(exporters)
    if otlp_configured(environ):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        chosen.append(OutageReportingExporter(OTLPSpanExporter(), otlp_endpoint(environ)))
    if trace_file is not None:
        chosen.append(JsonLinesSpanExporter(trace_file))
    if not chosen:
        return None
    env = os.environ if environ is None else environ
    attributes: dict[str, str] = {"service.namespace": "shopfloor"}
    if not env.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = "shopfloor"
    provider = TracerProvider(resource=Resource.create(attributes))
    for exporter in chosen:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


@dataclass
class _RunSpans:
    """The spans of one run that are still open, keyed the way events refer to them."""

    run: Span | None = None
    stage: Span | None = None
    tasks: dict[str, Span] = field(default_factory=dict)
    attempts: dict[str, tuple[int, Span]] = field(default_factory=dict)
    merges: dict[str, Span] = field(default_factory=dict)
    agents: dict[str, Span] = field(default_factory=dict)
    escalations: dict[str, Span] = field(default_factory=dict)
    last_ns: int = 0


class RunTracer:
    """Builds one trace per run from the run's events."""

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
        self._runs: dict[str, _RunSpans] = {}

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
        through became a trace of its own. The root is named as the run's first one and
        marked ``shopfloor.resumed``; search both by ``shopfloor.run_id``.
        """
        if not state.run_id or state.outcome is not Outcome.RUNNING:
            return
        run = self._runs.setdefault(state.run_id, _RunSpans())
        if run.run is not None:
            return
        start = ns(at or datetime.now(UTC))
        run.last_ns = max(run.last_ns, start)
        run.run = self._start(
            f"run {state.mode}",
            None,
            start,
            {
                "shopfloor.run_id": state.run_id,
                "shopfloor.mode": state.mode,
                "shopfloor.repo": state.repo,
                "shopfloor.base_branch": state.base_branch,
                "shopfloor.integration_branch": state.integration_branch,
                "shopfloor.simulated": state.simulated,
                "shopfloor.resumed": True,
                "shopfloor.resumed_at_seq": state.last_seq,
                "shopfloor.request": state.request if self.content else None,
            },
            SpanKind.SERVER,
        )

    # -- helpers ----------------------------------------------------------------------------

    def _text(self, value: str) -> str:
        return self.redactor.redact(value)[:MAX_ATTRIBUTE_LENGTH]

    def _attrs(self, raw: Mapping[str, AttrValue | None]) -> dict[str, AttrValue]:
        return {
            key: self._text(value) if isinstance(value, str) else value
            for key, value in raw.items()
            if value is not None
        }

    def _start(
        self,
        name: str,
        parent: Span | None,
        start: int,
        attributes: Mapping[str, AttrValue | None],
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> Span:
        context = trace.set_span_in_context(parent) if parent is not None else None
        return self.tracer.start_span(
            self._text(name),
            context=context,
            kind=kind,
            attributes=self._attrs(attributes),
            start_time=start,
        )

    @staticmethod
    def _end(span: Span | None, end: int, error: str | None = None) -> None:
        if span is None:
            return
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=end)

    def _attempt_span(self, run: _RunSpans, task_id: str | None, attempt: int) -> Span | None:
        if task_id is None:
            return None
        current = run.attempts.get(task_id)
        if current is not None and (attempt == 0 or current[0] == attempt):
            return current[1]
        return None

    def _parent(self, run: _RunSpans) -> Span | None:
        return run.stage or run.run

    # -- the fold ---------------------------------------------------------------------------

    def observe(self, event: EventBase) -> None:
        """Turn one event into span starts, ends and span events."""
        run = self._runs.setdefault(event.run_id, _RunSpans())
        at = ns(event.ts)
        run.last_ns = max(run.last_ns, at)
        match event:
            case RunStarted():
                run.run = self._start(
                    f"run {event.mode}",
                    None,
                    at,
                    {
                        "shopfloor.run_id": event.run_id,
                        "shopfloor.mode": event.mode,
                        "shopfloor.repo": event.repo,
                        "shopfloor.base_branch": event.base_branch,
                        "shopfloor.integration_branch": event.integration_branch,
                        "shopfloor.simulated": event.simulated,
                        "shopfloor.request": event.request if self.content else None,
                    },
                    SpanKind.SERVER,
                )
            case StageChanged():
                self._end(run.stage, at)
                run.stage = self._start(
                    f"stage {event.stage.value}",
                    run.run,
                    at,
                    {"shopfloor.stage": event.stage.value},
                )
            case TaskStateChanged():
                self._task_state(run, event, at)
            case AgentStarted():
                parent = self._attempt_span(run, event.task_id, event.attempt) or self._parent(run)
                run.agents[event.agent_id] = self._start(
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
                        self._attrs(
                            {"shopfloor.output.kind": event.kind, "gen_ai.completion": event.text}
                        ),
                        timestamp=at,
                    )
            case AgentFinished():
                agent = run.agents.pop(event.agent_id, None)
                if agent is not None:
                    agent.set_attribute("shopfloor.agent.ok", event.ok)
                    if self.content and event.summary:
                        agent.set_attribute("shopfloor.agent.summary", self._text(event.summary))
                    self._end(agent, at, None if event.ok else "agent failed")
            case LLMCallFinished():
                self._llm_call(run, event, at)
            case GateFinished():
                self._gate(run, event, at)
            case MergeQueued():
                parent = self._attempt_span(run, event.task_id, event.attempt) or self._parent(run)
                run.merges[event.task_id] = self._start(
                    f"merge {event.task_id}",
                    parent,
                    at,
                    {"shopfloor.task.id": event.task_id, "shopfloor.attempt": event.attempt},
                )
            case Merged():
                merge = run.merges.pop(event.task_id, None)
                if merge is not None:
                    merge.set_attribute("shopfloor.merge.commit", event.commit)
                self._end(merge, at)
            case MergeConflict():
                self._end(run.merges.pop(event.task_id, None), at, "merge conflict")
            case EscalationRaised():
                parent = self._attempt_span(run, event.task_id, 0) or self._parent(run)
                run.escalations[event.escalation_id] = self._start(
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
                    span.set_attribute("shopfloor.escalation.decision", self._text(event.decision))
                    span.set_attribute(
                        "shopfloor.escalation.decided_by", self._text(event.decided_by)
                    )
                self._end(span, at)
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
        self, run: _RunSpans, name: str, at: int, attributes: Mapping[str, AttrValue | None]
    ) -> None:
        parent = self._parent(run)
        if parent is not None:
            parent.add_event(name, self._attrs(attributes), timestamp=at)

    def _score(
        self,
        run: _RunSpans,
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

    def _task_state(self, run: _RunSpans, event: TaskStateChanged, at: int) -> None:
        task_id = event.task_id
        if event.state is TaskState.PENDING:
            return
        task = run.tasks.get(task_id)
        if task is None:
            task = run.tasks[task_id] = self._start(
                f"task {task_id}", self._parent(run), at, {"shopfloor.task.id": task_id}
            )
        if event.state is TaskState.RUNNING and event.attempt:
            current = run.attempts.get(task_id)
            if current is None or current[0] != event.attempt:
                if current is not None:
                    self._end(current[1], at, "retried")
                run.attempts[task_id] = (
                    event.attempt,
                    self._start(
                        f"attempt {task_id}#{event.attempt}",
                        task,
                        at,
                        {"shopfloor.task.id": task_id, "shopfloor.attempt": event.attempt},
                    ),
                )
                task.set_attribute("shopfloor.task.attempts", event.attempt)
        if event.state in (TaskState.MERGED, TaskState.FAILED, TaskState.BLOCKED):
            error = None if event.state is TaskState.MERGED else event.reason or event.state.value
            self._end(run.merges.pop(task_id, None), at, error)
            attempt = run.attempts.pop(task_id, None)
            if attempt is not None:
                self._end(attempt[1], at, error)
            task.set_attribute("shopfloor.task.state", event.state.value)
            self._end(run.tasks.pop(task_id), at, error)

    def _llm_call(self, run: _RunSpans, event: LLMCallFinished, at: int) -> None:
        parent = run.agents.get(event.agent_id) or self._parent(run)
        start = at - int(max(event.latency_s, 0.0) * 1e9)
        span = self._start(
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
        self._end(span, at)

    def _gate(self, run: _RunSpans, event: GateFinished, at: int) -> None:
        if event.scope == "merge" and event.task_id in run.merges:
            parent: Span | None = run.merges[event.task_id]
        elif event.scope == "task":
            parent = self._attempt_span(run, event.task_id, event.attempt) or self._parent(run)
        else:
            parent = self._parent(run)
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
        span = self._start(f"gate {event.gate}", parent, start, attributes)
        self._end(span, at, None if event.passed else event.summary)
        if not event.passed and event.scope == "merge" and event.task_id is not None:
            self._end(run.merges.pop(event.task_id, None), at, "merge gates failed")

    def _run_finished(self, run: _RunSpans, event: RunFinished, at: int) -> None:
        failed = event.outcome in (Outcome.FAILED, Outcome.KILLED)
        self._close_open(run, at, event.reason or event.outcome.value if failed else None)
        if run.run is not None:
            run.run.set_attribute("shopfloor.outcome", event.outcome.value)
            if event.reason:
                run.run.set_attribute("shopfloor.reason", self._text(event.reason))
            if event.branch:
                run.run.set_attribute("shopfloor.branch", event.branch)
            self._end(run.run, at, event.reason or event.outcome.value if failed else None)
            run.run = None

    def _close_open(self, run: _RunSpans, at: int, error: str | None) -> None:
        for span in [*run.agents.values(), *run.merges.values(), *run.escalations.values()]:
            self._end(span, at, error)
        for _, span in run.attempts.values():
            self._end(span, at, error)
        for span in run.tasks.values():
            self._end(span, at, error)
        run.agents.clear()
        run.merges.clear()
        run.escalations.clear()
        run.attempts.clear()
        run.tasks.clear()
        self._end(run.stage, at)
        run.stage = None

    def close(self) -> None:
        """End the spans of runs that never finished (a killed or interrupted run)."""
        for run in self._runs.values():
            self._close_open(run, run.last_ns, "interrupted")
            if run.run is not None:
                run.run.set_attribute("shopfloor.interrupted", True)
                self._end(run.run, run.last_ns, "interrupted")
        self._runs.clear()
