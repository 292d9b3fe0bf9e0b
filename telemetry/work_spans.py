"""The spans of a run's work: a task and its attempts, an agent and its model calls, a
merge, a gate.

:class:`telemetry.tracing.RunTracer` hands these events here; each function starts and ends
its spans with the run's :class:`SpanWriter` under the open spans of :class:`RunSpans`
(a task under the stage, an attempt under its task, an agent or a merge under its attempt,
a gate under its attempt or merge, a model call under its agent), and the span events of
scores and decisions.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.trace import Span, SpanKind

from engine.events import (
    AgentFinished,
    AgentOutput,
    AgentStarted,
    CriticScored,
    GateFinished,
    LLMCallFinished,
    Merged,
    MergeQueued,
    QCScored,
    TaskState,
    TaskStateChanged,
    TwinDecided,
    VerificationFinished,
)
from telemetry.run_spans import AttrValue, RunSpans, SpanWriter


def task_state(writer: SpanWriter, run: RunSpans, event: TaskStateChanged, at: int) -> None:
    """A task's span opens at its first state past pending, an attempt's at each new
    attempt; both end when the task is merged, failed or blocked."""
    task_id = event.task_id
    if event.state is TaskState.PENDING:
        return
    task = run.tasks.get(task_id)
    if task is None:
        task = run.tasks[task_id] = writer.start(
            f"task {task_id}", run.parent(), at, {"shopfloor.task.id": task_id}
        )
    if event.state is TaskState.RUNNING and event.attempt:
        current = run.attempts.get(task_id)
        if current is None or current[0] != event.attempt:
            if current is not None:
                writer.end(current[1], at, "retried")
            run.attempts[task_id] = (
                event.attempt,
                writer.start(
                    f"attempt {task_id}#{event.attempt}",
                    task,
                    at,
                    {"shopfloor.task.id": task_id, "shopfloor.attempt": event.attempt},
                ),
            )
            task.set_attribute("shopfloor.task.attempts", event.attempt)
    if event.state in (TaskState.MERGED, TaskState.FAILED, TaskState.BLOCKED):
        error = None if event.state is TaskState.MERGED else event.reason or event.state.value
        writer.end(run.merges.pop(task_id, None), at, error)
        attempt = run.attempts.pop(task_id, None)
        if attempt is not None:
            writer.end(attempt[1], at, error)
        task.set_attribute("shopfloor.task.state", event.state.value)
        writer.end(run.tasks.pop(task_id), at, error)


def agent_started(writer: SpanWriter, run: RunSpans, event: AgentStarted, at: int) -> None:
    """An agent's span opens, under its attempt (else the stage)."""
    parent = run.attempt_span(event.task_id, event.attempt) or run.parent()
    run.agents[event.agent_id] = writer.start(
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


def agent_output(writer: SpanWriter, run: RunSpans, event: AgentOutput, at: int) -> None:
    """What an agent said, as a span event on its span (only when content is recorded)."""
    agent = run.agents.get(event.agent_id)
    if agent is not None:
        agent.add_event(
            "gen_ai.choice",
            writer.attrs({"shopfloor.output.kind": event.kind, "gen_ai.completion": event.text}),
            timestamp=at,
        )


def agent_finished(
    writer: SpanWriter, run: RunSpans, event: AgentFinished, at: int, *, content: bool
) -> None:
    """An agent's span ends, failed unless it was ok; its summary only with ``content``."""
    agent = run.agents.pop(event.agent_id, None)
    if agent is not None:
        agent.set_attribute("shopfloor.agent.ok", event.ok)
        if content and event.summary:
            agent.set_attribute("shopfloor.agent.summary", writer.text(event.summary))
        writer.end(agent, at, None if event.ok else "agent failed")


def merge_queued(writer: SpanWriter, run: RunSpans, event: MergeQueued, at: int) -> None:
    """A merge's span opens, under its attempt (else the stage)."""
    parent = run.attempt_span(event.task_id, event.attempt) or run.parent()
    run.merges[event.task_id] = writer.start(
        f"merge {event.task_id}",
        parent,
        at,
        {"shopfloor.task.id": event.task_id, "shopfloor.attempt": event.attempt},
    )


def merged(writer: SpanWriter, run: RunSpans, event: Merged, at: int) -> None:
    """A merge's span ends with the commit it made."""
    merge = run.merges.pop(event.task_id, None)
    if merge is not None:
        merge.set_attribute("shopfloor.merge.commit", event.commit)
    writer.end(merge, at)


def llm_call(writer: SpanWriter, run: RunSpans, event: LLMCallFinished, at: int) -> None:
    """A model call's span, ``latency_s`` long, under its agent's."""
    parent = run.agents.get(event.agent_id) or run.parent()
    start = at - int(max(event.latency_s, 0.0) * 1e9)
    span = writer.start(
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
    writer.end(span, at)


def gate(writer: SpanWriter, run: RunSpans, event: GateFinished, at: int) -> None:
    """A gate's span, ``duration_s`` long, under its merge, its attempt or the stage."""
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
    span = writer.start(f"gate {event.gate}", parent, start, attributes)
    writer.end(span, at, None if event.passed else event.summary)
    if not event.passed and event.scope == "merge" and event.task_id is not None:
        writer.end(run.merges.pop(event.task_id, None), at, "merge gates failed")


def span_event(
    writer: SpanWriter,
    run: RunSpans,
    name: str,
    at: int,
    attributes: Mapping[str, AttrValue | None],
) -> None:
    """A span event on the current stage (else the run)."""
    parent = run.parent()
    if parent is not None:
        parent.add_event(name, writer.attrs(attributes), timestamp=at)


def score(
    writer: SpanWriter,
    run: RunSpans,
    event: CriticScored | QCScored | VerificationFinished | TwinDecided,
    at: int,
) -> None:
    """A score or a decision, as a span event on the current stage."""
    match event:
        case CriticScored():
            span_event(writer, run, "critic scored", at, {"shopfloor.score": event.total})
        case QCScored():
            span_event(writer, run, "qc scored", at, {"shopfloor.score": event.score})
        case VerificationFinished():
            span_event(
                writer,
                run,
                "verification",
                at,
                {"shopfloor.score": event.score, "shopfloor.passed": event.passed},
            )
        case TwinDecided():
            span_event(
                writer,
                run,
                "twin decided",
                at,
                {
                    "shopfloor.decision": event.decision,
                    "shopfloor.confidence": event.confidence,
                },
            )
