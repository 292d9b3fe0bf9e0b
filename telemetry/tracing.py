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
with redacted attributes, is ``telemetry.run_spans``; the spans of a task's work (its
attempts, gates and model calls), ``telemetry.work_spans``; a run's trace id, the same in
every process that resumes it, is ``telemetry.trace_ids``.

One run, one tree, one root, however its processes end. A run may be driven by several
processes (stopped by a signal or SIGKILLed, then resumed), and an open span is never
exported: before, the first process's top span was the root, so a SIGKILL lost it, the
resumed run's trace had no root and the killed process's finished spans hung under spans
that did not exist. Now, with :class:`RunTraceIds` ids:

- The root ``run MODE`` (ids derived from the run, start at its RunStarted, the run's
  attributes, its outcome, reason and branch) is written by the process that records the
  run's RunFinished, whichever that is: one process per finished run, never two.
- Each process's own span, ``drive MODE`` (the first), ``resume MODE`` or ``abandon MODE``
  (random ids), is a child of the root, from when it took the run on to when it left it; it
  parents nothing: a SIGKILL loses it, and what hung under it would have hung under nothing.
- The stages hang on the root directly. The spans under them get ids derived from the event
  that started them (:meth:`RunTraceIds.event`), and a process that stops without finishing
  leaves the spans it has open unwritten, as a SIGKILL does: the next process cannot tell a
  stop from a kill, so it writes them, as the run's log says they were open, with those ids
  (:mod:`telemetry.span_replay`). The tracer follows the log (:meth:`RunTracer.consume`), so
  no span it ended is written again and no derived id is given twice.
- A run stopped and never resumed has no root: its spans (the process's, interrupted, and the
  stages it finished) hang under the root it will have once a resume finishes it, or
  ``shopfloor abandon`` does, which takes the trace over as a resume would when tracing is
  configured (without, the run ends with no root). A kill also loses what a collector had
  not been sent yet (the last batch, ``OTEL_BSP_SCHEDULE_DELAY``); a ``--trace-file`` is
  written as each span ends.

Without :class:`RunTraceIds` (a provider of the caller's), nothing can be derived: the root
is opened at RunStarted and each process's trace is its own.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Awaitable, Callable, Sequence, Set
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanKind

from engine.bus import DurabilityLost, Subscription
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
    RunResumed,
    RunStarted,
    StageChanged,
    TaskStateChanged,
    TwinDecided,
    VerificationFinished,
)
from engine.redaction import Redactor
from engine.state import RunState
from telemetry.run_spans import RunSpans, SpanWriter, ns
from telemetry.run_top import RunTop, process_attributes, run_attributes
from telemetry.span_replay import ReplayWriter, write_left_open
from telemetry.trace_ids import RunRoot, RunTraceIds
from telemetry.work_spans import (
    agent_finished,
    agent_output,
    agent_started,
    gate,
    llm_call,
    merge_queued,
    merged,
    score,
    span_event,
    task_state,
)

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
        written: Callable[[int], Set[int] | None] | None = None,
    ) -> None:
        """``content`` records the run's request and what agents said on the spans;
        ``written`` tells which spans of a trace its destination holds already, when that
        can be read (a ``--trace-file``): a resume writes the ones a killed process lost."""
        self.tracer = provider.get_tracer(TRACER_NAME)
        self.content = content
        self.redactor = redactor if redactor is not None else Redactor.from_environ()
        self.writer: SpanWriter = SpanWriter(self.tracer, self.redactor)
        ids = getattr(provider, "id_generator", None)
        self.ids = ids if isinstance(ids, RunTraceIds) else None
        self.written = written
        self.replaying = False
        self._runs: dict[str, RunSpans] = {}
        self._tops: dict[str, RunTop] = {}

    async def consume(
        self,
        subscription: Subscription,
        committed: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Trace every event of a bus subscription until the bus closes; with ``committed``
        (the bus's :meth:`~engine.bus.EventBus.durable`), only once it is in the run's log.

        The trace follows the log so that the process resuming a killed run, which writes
        the spans left open as the log says, writes none that was written already (ended by
        an event the tracer saw but the log lost), and the ids it derives from its events'
        sequence numbers were never given to another process's spans.
        """
        with subscription.reading():
            while (batch := await subscription.get_batch()) is not None:
                if committed is not None:
                    with contextlib.suppress(DurabilityLost):  # not stored: traced anyway
                        await committed()
                for event in batch:
                    self.observe(event)
                subscription.task_done(len(batch))

    def resume(
        self,
        state: RunState,
        history: Sequence[EventBase] = (),
        at: datetime | None = None,
        *,
        abandoning: bool = False,
    ) -> None:
        """Open this process's span for a run an earlier process started (``shopfloor
        resume``), and write the spans the earlier process left open (``history``, the run's
        stored events, says which: :mod:`telemetry.span_replay`).

        The span is named ``resume MODE``, marked ``shopfloor.resumed``, and (with
        :class:`RunTraceIds`) is a child of the run's root, whose ids are derived from the
        run, as are the stages this process goes through. ``abandoning`` (``shopfloor
        abandon``, which only logs the run's ending): ``abandon MODE``, marked
        ``shopfloor.abandoned``, so the trace does not say the run went on.
        """
        if not state.run_id or state.outcome is not Outcome.RUNNING:
            return
        run = self._runs.setdefault(state.run_id, RunSpans())
        if run.process is not None:
            return
        start = ns(at or datetime.now(UTC))
        run.last_ns = max(run.last_ns, start)
        started = datetime.fromisoformat(state.started_at) if state.started_at else None
        ids = RunRoot.of(state.run_id, started) if started and self.ids is not None else None
        self._tops[state.run_id] = RunTop(state, ns(started) if started else start, ids)
        if ids is not None:
            run.run = NonRecordingSpan(ids.root_context())
            self._write_left_open(state.run_id, ids, history, run if abandoning else None)
        run.process = self.writer.start(
            f"{'abandon' if abandoning else 'resume'} {state.mode}",
            run.run,
            start,
            {
                **process_attributes(state),
                "shopfloor.abandoned" if abandoning else "shopfloor.resumed": True,
                "shopfloor.resumed_at_seq": state.last_seq,
            },
        )

    def _write_left_open(
        self,
        run_id: str,
        ids: RunRoot,
        history: Sequence[EventBase],
        adopt: RunSpans | None = None,
    ) -> None:
        """Fold ``history`` without writing, then write what was open at its end (or, with
        ``adopt``, open it again there: :func:`telemetry.span_replay.write_left_open`)."""
        assert self.ids is not None
        replay = copy.copy(self)
        replay._runs, replay._tops, replay.replaying, replay.content = {}, {}, True, False
        writer = replay.writer = ReplayWriter(self.tracer, self.redactor, self.ids, ids)
        for event in history:
            if event.run_id == run_id and not isinstance(event, RunFinished):
                replay.observe(event)
        left = replay._runs.get(run_id)
        if left is not None:
            done = self.written(ids.trace_id) if self.written is not None else None
            write_left_open(self.writer, self.ids, writer, left, left.last_ns, done, adopt)

    def _start(self, run: RunSpans, event: RunStarted, at: int) -> None:
        """The run starts: remember what its root is written from, open this process's
        ``drive MODE`` span under it (without derived ids, the root is opened now)."""
        ids = RunRoot.of(event.run_id, event.ts) if self.ids is not None else None
        self._tops[event.run_id] = RunTop(event, at, ids)
        if ids is not None:
            run.run = NonRecordingSpan(ids.root_context())
        else:
            run.run = self._root(event, at)
        if not self.replaying:
            run.process = self.writer.start(
                f"drive {event.mode}", run.run, at, process_attributes(event)
            )

    def _root(self, source: RunStarted | RunState, at: int) -> Span:
        attributes = run_attributes(source, content=self.content)
        return self.writer.start(f"run {source.mode}", None, at, attributes, SpanKind.SERVER)

    # -- the fold ---------------------------------------------------------------------------

    def observe(self, event: EventBase) -> None:
        """Turn one event into span starts, ends and span events."""
        run = self._runs.setdefault(event.run_id, RunSpans())
        at = ns(event.ts)
        run.last_ns = max(run.last_ns, at)
        if isinstance(event, RunStarted):
            self._start(run, event, at)
            return
        top = self._tops.get(event.run_id)
        derived: AbstractContextManager[None] = nullcontext()
        if self.ids is not None and top is not None and top.ids is not None:
            derived = self.ids.event(top.ids, event.seq)  # the ids a replay gives them too
        with derived:
            self._fold(run, event, at)

    def _fold(self, run: RunSpans, event: EventBase, at: int) -> None:
        match event:
            case RunResumed():  # a replay: the spans open before were written by this resume
                run.forget_open()
            case StageChanged():
                self.writer.end(run.stage, at)
                run.stage = self.writer.start(
                    f"stage {event.stage.value}",
                    run.run,
                    at,
                    {"shopfloor.stage": event.stage.value},
                )
            case TaskStateChanged():
                task_state(self.writer, run, event, at)
            case AgentStarted():
                agent_started(self.writer, run, event, at)
            case AgentOutput() if self.content:
                agent_output(self.writer, run, event, at)
            case AgentFinished():
                agent_finished(self.writer, run, event, at, content=self.content)
            case LLMCallFinished():
                llm_call(self.writer, run, event, at)
            case GateFinished():
                gate(self.writer, run, event, at)
            case MergeQueued():
                merge_queued(self.writer, run, event, at)
            case Merged():
                merged(self.writer, run, event, at)
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
                score(self.writer, run, event, at)
            case ReviewRoundFinished():
                span_event(
                    self.writer,
                    run,
                    "review round",
                    at,
                    {
                        "shopfloor.review.round": event.round,
                        "shopfloor.review.passed": event.passed,
                    },
                )
            case KillGateTripped():
                span_event(
                    self.writer,
                    run,
                    "kill gate",
                    at,
                    {"shopfloor.kill_gate": event.gate, "shopfloor.reason": event.reason},
                )
            case RunFinished():
                self._run_finished(run, event, at)
                del self._runs[event.run_id]

    def _run_finished(self, run: RunSpans, event: RunFinished, at: int) -> None:
        """End what is open, this process's span, and write the run's root (this process
        records the run's end: no other writes it)."""
        failed = event.outcome in (Outcome.FAILED, Outcome.KILLED)
        error = event.reason or event.outcome.value if failed else None
        run.end_open(at, error)
        self.writer.end(run.process, at, error)
        run.process = None
        top = self._tops.pop(event.run_id, None)
        root = run.run
        if top is not None and top.ids is not None and self.ids is not None:
            with self.ids.root(top.ids):
                root = self._root(top.source, top.start)
        if root is None:
            return
        root.set_attribute("shopfloor.outcome", event.outcome.value)
        if event.reason:
            root.set_attribute("shopfloor.reason", self.writer.text(event.reason))
        if event.branch:
            root.set_attribute("shopfloor.branch", event.branch)
        self.writer.end(root, at, error)
        run.run = None

    def close(self) -> None:
        """End this process's span of each run it leaves unfinished (stopped or interrupted),
        marked ``shopfloor.interrupted``; no root is written for such a run. With derived ids
        the spans still open are left to the process that resumes the run (it writes them:
        :mod:`telemetry.span_replay`); without, they end here, and so does the root."""
        for run_id, run in self._runs.items():
            top = self._tops.get(run_id)
            if top is None or top.ids is None:
                run.end_open(run.last_ns, "interrupted")
                if run.run is not None and run.run is not run.process:
                    run.run.set_attribute("shopfloor.interrupted", True)
                    self.writer.end(run.run, run.last_ns, "interrupted")
            if run.process is not None:
                run.process.set_attribute("shopfloor.interrupted", True)
                self.writer.end(run.process, run.last_ns, "interrupted")
        self._runs.clear()
        self._tops.clear()
