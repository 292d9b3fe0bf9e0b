"""The root of a run's trace is written once, by the process that records the run's end.

Before, the first process's top span was the root: a process SIGKILLed never wrote it, so the
resumed run's trace had no root ("root span missing"), every stage the killed process had
finished hung under a span that did not exist, and the run's outcome was on the resumed
process's span. Now the root (``run MODE``, ids derived from the run) is written by whichever
process records RunFinished, each process's own span (``drive MODE``, ``resume MODE``) is
its child, the stages hang on the root, and the spans a stopped or killed process left open
are written by the process that resumes the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import telemetry_sample
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from trace_tree import children, from_sdk, one_tree

from engine.bus import EventBus
from engine.events import (
    AgentStarted,
    EventBase,
    LLMCallFinished,
    Outcome,
    RunFinished,
    RunResumed,
    RunStarted,
    Stage,
    StageChanged,
    TaskState,
    TaskStateChanged,
)
from engine.redaction import Redactor
from engine.state import RunState
from telemetry.options import TelemetryOptions
from telemetry.session import RunTelemetry

Steps = Callable[[EventBus], None]


def blueprint_under_way(bus: EventBus) -> None:
    """Killed in the blueprint stage: the planner's call finished, the planner still open."""
    bus.emit(
        RunStarted(
            request="build",
            repo="/srv/repo",
            base_branch="main",
            base_commit="0" * 40,
            integration_branch="shopfloor/int",
        )
    )
    bus.emit(StageChanged(stage=Stage.BLUEPRINT))
    bus.emit(AgentStarted(agent_id="planner-2", role="planner", model="anthropic:claude-opus"))
    bus.emit(
        LLMCallFinished(
            agent_id="planner-2",
            role="planner",
            provider="anthropic",
            model="claude-opus",
            input_tokens=5,
            output_tokens=7,
            latency_s=0.5,
        )
    )


def attempt_under_way(bus: EventBus) -> None:
    """Killed mid-attempt: ``a`` merged, ``b``'s first attempt failed, its second has an
    engineer whose model call finished."""
    if not bus.state.run_id:
        telemetry_sample.start(bus)
    else:
        resumed(bus)
    telemetry_sample.attempt(bus, "a", 1, passes=True)
    telemetry_sample.attempt(bus, "b", 1, passes=False)
    bus.emit(TaskStateChanged(task_id="b", state=TaskState.RUNNING, attempt=2))
    bus.emit(AgentStarted(agent_id="eng-b2", role="engineer", model="m", task_id="b", attempt=2))
    bus.emit(
        LLMCallFinished(
            agent_id="eng-b2", role="engineer", provider="anthropic", model="m", latency_s=0.1
        )
    )


def resumed(bus: EventBus) -> None:
    bus.emit(RunResumed())
    bus.emit(StageChanged(stage=bus.state.stage))


def to_the_end(bus: EventBus) -> None:
    resumed(bus)
    telemetry_sample.attempt(bus, "b", 3, passes=True)
    bus.emit(StageChanged(stage=Stage.SHIP))
    bus.emit(RunFinished(outcome=Outcome.SHIPPED, branch="shopfloor/done"))


async def killed(steps: Steps, stored: list[EventBase]) -> list[ReadableSpan]:
    """A process that drives the run through ``steps`` and is SIGKILLed: what its exporter
    had sent (every span it ended, nothing open: its telemetry never closes)."""
    exporter = InMemorySpanExporter()
    telemetry = RunTelemetry(TelemetryOptions(), redactor=Redactor(()), exporters=[exporter])
    bus = EventBus(telemetry_sample.RUN_ID, state=RunState.fold(stored) if stored else None)
    bus.listen(stored.append)
    telemetry.attach(bus, list(stored))
    steps(bus)
    await bus.close()  # the subscribers have seen every event
    assert telemetry.provider is not None
    telemetry.provider.force_flush()
    spans = list(exporter.get_finished_spans())
    telemetry.provider.shutdown()
    return spans


async def process(steps: Steps, stored: list[EventBase]) -> list[ReadableSpan]:
    """A process that drives the run through ``steps`` and exits (finished, or stopped by a
    signal: its telemetry closes), as the CLI wires it."""
    exporter = InMemorySpanExporter()
    telemetry = RunTelemetry(TelemetryOptions(), redactor=Redactor(()), exporters=[exporter])
    bus = EventBus(telemetry_sample.RUN_ID, state=RunState.fold(stored) if stored else None)
    bus.listen(stored.append)
    telemetry.attach(bus, list(stored))
    steps(bus)
    await bus.close()
    await telemetry.close()
    return list(exporter.get_finished_spans())


async def test_a_clean_run_is_one_tree_under_its_root_with_the_drive_span() -> None:
    nodes = from_sdk(await process(telemetry_sample.whole_run, []))
    root = one_tree(nodes)
    assert root.name == "run create" and root.attributes["shopfloor.outcome"] == "shipped"
    assert children(nodes, root) == [
        "drive create",
        "stage blueprint",
        "stage build",
        "stage ship",
        "stage verify",
    ]


async def test_a_stopped_and_resumed_run_has_one_root_written_by_the_resume() -> None:
    stored: list[EventBase] = []
    first = await process(attempt_under_way, stored)  # SIGTERM: its telemetry closes
    second = await process(to_the_end, stored)
    nodes = from_sdk(first + second)
    root = one_tree(nodes)
    assert root.name == "run create"
    assert root.attributes["shopfloor.outcome"] == "shipped"
    assert root.attributes["shopfloor.branch"] == "shopfloor/done"
    assert [n.name for n in from_sdk(second) if n.parent_id is None] == ["run create"]
    (drive,) = [n for n in nodes if n.name == "drive create"]
    assert drive.attributes["shopfloor.interrupted"] is True
    (again,) = [n for n in nodes if n.name == "resume create"]
    assert again.parent_id == drive.parent_id == root.span_id
    # what the stopped process had open, written by the resume, ended as interrupted
    (left,) = [n for n in from_sdk(second) if n.name == "attempt b#2"]
    assert left.attributes["shopfloor.interrupted"] is True


async def test_a_run_killed_at_two_points_and_resumed_is_one_tree() -> None:
    """Killed in the blueprint stage, resumed, killed again mid-attempt, resumed to its end:
    every span either process exported has its parent in the trace."""
    stored: list[EventBase] = []
    first = await killed(blueprint_under_way, stored)
    assert first and all(s.parent is not None for s in first)  # no root from a killed one
    second = await killed(attempt_under_way, stored)
    third = await process(to_the_end, stored)
    nodes = from_sdk(first + second + third)
    root = one_tree(nodes)
    assert root.name == "run create" and root.attributes["shopfloor.outcome"] == "shipped"
    assert "drive create" not in {n.name for n in nodes}  # open at the kill: lost
    assert {n.name for n in from_sdk(second) if n.parent_id == root.span_id} >= {
        "stage blueprint",  # the killed first process's, written by the second
    }
    (chat,) = [n for n in from_sdk(first) if n.name == "chat claude-opus"]
    (planner,) = [n for n in from_sdk(second) if n.span_id == chat.parent_id]
    assert planner.name == "invoke_agent planner"  # open at the kill, written by the resume
    assert planner.attributes["shopfloor.interrupted"] is True


async def test_a_run_killed_mid_attempt_and_resumed_is_one_tree() -> None:
    stored: list[EventBase] = []
    first = await killed(attempt_under_way, stored)
    second = await process(to_the_end, stored)
    nodes = from_sdk(first + second)
    root = one_tree(nodes)
    assert root.attributes["shopfloor.outcome"] == "shipped"
    names = [n.name for n in nodes]
    assert names.count("task b") == 2  # the killed process's (written by the resume) and its own
    assert names.count("run create") == 1


async def test_a_stopped_run_never_resumed_has_its_process_span_and_no_root() -> None:
    stored: list[EventBase] = []
    nodes = from_sdk(await process(attempt_under_way, stored))
    assert [n.name for n in nodes if n.parent_id is None] == []
    (drive,) = [n for n in nodes if n.name == "drive create"]
    assert drive.attributes["shopfloor.interrupted"] is True
    assert "run create" not in {n.name for n in nodes}


async def test_the_tracer_traces_only_events_the_log_holds() -> None:
    """A span ended by an event the log lost in a kill would be written again by the resume
    (the log says it was open), with the same id. So the tracer waits for the storage writer
    (the bus's durable subscriber) before it traces a batch."""
    exporter = InMemorySpanExporter()
    telemetry = RunTelemetry(TelemetryOptions(), redactor=Redactor(()), exporters=[exporter])
    assert telemetry.provider is not None
    bus = EventBus(telemetry_sample.RUN_ID)
    storage = bus.subscribe("storage", durable=True)
    telemetry.attach(bus)
    telemetry_sample.start(bus)  # the planner and its stage end
    await asyncio.sleep(0.05)
    telemetry.provider.force_flush()
    assert exporter.get_finished_spans() == ()  # nothing is committed yet
    batch = await storage.get_batch()
    assert batch is not None
    storage.task_done(len(batch))  # committed
    await asyncio.sleep(0.05)
    telemetry.provider.force_flush()
    names = {s.name for s in exporter.get_finished_spans()}
    assert {"invoke_agent planner", "stage blueprint"} <= names
    storage.close()  # the writer is gone: the bus closes without it
    await bus.close()
    await telemetry.close()
