"""One run, one trace: the process that resumes a run adds its spans to the run's trace.

Before, ``shopfloor resume`` opened a fresh trace (a root marked ``shopfloor.resumed``), so a
run stopped or SIGKILLed and resumed showed in Jaeger or Tempo as two unrelated traces, found
together only by searching ``shopfloor.run_id``. Now the trace id is derived from the run, the
resumed root is a second root of that trace, and it links to the first process's root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import telemetry_sample
from demo_process import ROOT, cli, kill_when, stored_events
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_run_tracing import Receiver, receiver

from engine.bus import EventBus
from engine.events import EventBase, Outcome, RunFinished, RunResumed, Stage, StageChanged
from engine.redaction import Redactor
from engine.state import RunState
from storage.store import SqlEventStore
from telemetry.session import RunTelemetry, TelemetryOptions
from telemetry.span_export import make_tracer_provider
from telemetry.tracing import RunTracer

__all__ = ["receiver"]  # the loopback OTLP/HTTP receiver fixture


def first_process(bus: EventBus) -> None:
    """What the first process did before it stopped: ``a`` merged, ``b`` failed its gate."""
    telemetry_sample.start(bus)
    telemetry_sample.attempt(bus, "a", 1, passes=True)
    telemetry_sample.attempt(bus, "b", 1, passes=False)


def second_process(bus: EventBus) -> None:
    """What the resumed process does: ``b`` again, merged, and the run ships."""
    bus.emit(RunResumed(restarted=["b"]))
    bus.emit(StageChanged(stage=Stage.BUILD))
    telemetry_sample.attempt(bus, "b", 2, passes=True)
    bus.emit(StageChanged(stage=Stage.SHIP))
    bus.emit(RunFinished(outcome=Outcome.SHIPPED, branch="shopfloor/done"))


async def as_stored(events: list[EventBase], tmp_path: Path) -> RunState:
    """The run as ``shopfloor resume`` reads it: written to a SQLite log and read back."""
    store = await SqlEventStore.open(str(tmp_path / "runs.db"), redactor=Redactor(()))
    try:
        await store.append(events)
        return RunState.fold(await store.read(telemetry_sample.RUN_ID))
    finally:
        await store.close()


async def test_a_stopped_and_resumed_run_is_one_trace_at_the_collector(
    receiver: str, tmp_path: Path
) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver}
    with pytest.MonkeyPatch.context() as mp:  # the OTLP exporter reads its endpoint from here
        mp.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver)
        mp.setenv("NO_PROXY", "127.0.0.1")
        first = RunTelemetry(TelemetryOptions(), environ=env, redactor=Redactor(()))
        bus = EventBus(telemetry_sample.RUN_ID)
        stored: list[EventBase] = []
        bus.listen(stored.append)
        first.attach(bus)
        first_process(bus)
        await bus.close()
        await first.close()  # stopped: its root ends, marked interrupted

        second = RunTelemetry(TelemetryOptions(), environ=env, redactor=Redactor(()))
        bus = EventBus(telemetry_sample.RUN_ID, state=await as_stored(stored, tmp_path))
        second.attach(bus)
        second_process(bus)
        await bus.close()
        await second.close()

    spans = [
        span
        for request in Receiver.received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert len({span.trace_id for span in spans}) == 1, "one run, one trace"
    roots = {resumed(span): span for span in spans if not span.parent_span_id}
    assert sorted(roots) == [False, True]  # two roots: the first process's, the resumed one's
    first, again = roots[False], roots[True]
    assert first.name == again.name == "run create"
    assert attribute(first, "shopfloor.interrupted").bool_value
    assert attribute(again, "shopfloor.outcome").string_value == "shipped"
    (link,) = again.links
    assert (link.trace_id, link.span_id) == (first.trace_id, first.span_id)
    stages = {
        root.span_id: sorted(s.name for s in spans if s.parent_span_id == root.span_id)
        for root in (first, again)
    }
    assert stages == {
        first.span_id: ["stage blueprint", "stage build"],
        again.span_id: ["stage build", "stage ship"],
    }


def attribute(span: Span, key: str) -> AnyValue:
    (value,) = [a.value for a in span.attributes if a.key == key]
    return value


def resumed(span: Span) -> bool:
    return any(a.key == "shopfloor.resumed" and a.value.bool_value for a in span.attributes)


async def test_a_killed_runs_resumed_root_links_to_the_root_it_never_exported(
    tmp_path: Path,
) -> None:
    """SIGKILL: the first process's root never ended, so never reached the collector; the spans
    it did export (the batches sent before the kill) point at it, and so does the new root."""
    before = InMemorySpanExporter()
    provider = make_tracer_provider(environ={}, exporters=[before])
    assert provider is not None
    killed = RunTracer(provider, redactor=Redactor(()))
    bus = EventBus(telemetry_sample.RUN_ID)
    stored: list[EventBase] = []
    bus.listen(stored.append)
    bus.listen(killed.observe)
    first_process(bus)
    provider.force_flush()  # what the batch processor had sent when the process was killed
    exported = list(before.get_finished_spans())
    assert exported and all(span.parent is not None for span in exported)  # no root

    after = InMemorySpanExporter()
    telemetry = RunTelemetry(TelemetryOptions(), redactor=Redactor(()), exporters=[after])
    bus = EventBus(telemetry_sample.RUN_ID, state=await as_stored(stored, tmp_path))
    telemetry.attach(bus)
    second_process(bus)
    await bus.close()
    await telemetry.close()
    provider.shutdown()

    resumed = list(after.get_finished_spans())
    assert {s.context.trace_id for s in exported} == {s.context.trace_id for s in resumed}
    (root,) = [s for s in resumed if s.parent is None]
    assert root.attributes["shopfloor.resumed"] is True
    (link,) = root.links
    (stage,) = [s for s in exported if s.name == "stage blueprint"]
    assert stage.parent is not None
    assert (link.context.trace_id, link.context.span_id) == (
        stage.context.trace_id,
        stage.parent.span_id,  # the killed process's root
    )


def traced_runs(*run_ids: str) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = make_tracer_provider(environ={}, exporters=[exporter])
    assert provider is not None
    tracer = RunTracer(provider, redactor=Redactor(()))
    for run_id in run_ids:
        bus = EventBus(run_id)
        bus.listen(tracer.observe)
        telemetry_sample.whole_run(bus)
    provider.shutdown()
    return list(exporter.get_finished_spans())


def test_runs_in_one_process_each_have_their_own_trace() -> None:
    spans = traced_runs(telemetry_sample.RUN_ID, "run-telemetry-2", "run-telemetry-3")
    roots = {s.attributes["shopfloor.run_id"]: s for s in spans if s.parent is None}
    assert len(roots) == 3
    assert len({root.context.trace_id for root in roots.values()}) == 3
    per_trace = {root.context.trace_id: 0 for root in roots.values()}
    for span in spans:
        per_trace[span.context.trace_id] += 1
    assert len(set(per_trace.values())) == 1  # every span in its own run's trace
    assert len({s.context.span_id for s in spans}) == len(spans)  # no span id given twice
    assert all(not root.links for root in roots.values())


def test_the_same_run_id_started_again_is_another_trace() -> None:
    """A run id is 12 hex digits: two databases may both hold one; their runs started at
    different times, so their traces differ."""
    first, again = (
        {s.context.trace_id for s in traced_runs(telemetry_sample.RUN_ID)} for _ in range(2)
    )
    assert len(first) == len(again) == 1
    assert first != again


@pytest.mark.e2e
def test_a_demo_killed_and_resumed_writes_one_trace(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    """A real ``shopfloor demo`` SIGKILLed mid-build and ``shopfloor resume``d, both writing
    to one ``--trace-file``: every span is in one trace, the only root is the resumed one, it
    links to the killed process's root, and a parent missing from the file is a span of the
    killed process's that was open at the kill (its root, the stage under way), never one of
    the resumed process's."""
    home, spans_file = tmp_path / "home", tmp_path / "trace.jsonl"
    home.mkdir()
    share_gate_cache(home)
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "OTEL_BSP_SCHEDULE_DELAY": "50"}
    env.pop("SHOPFLOOR_DB", None)
    demo = ["demo", "--headless", "--speed", "50", "--out", str(tmp_path / "repo")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *demo, "--trace-file", str(spans_file)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    killed = kill_when(
        proc,
        lambda: stored_events(home / "shopfloor.db")[0] >= 45 and trace_lines(spans_file) > 5,
    )
    assert killed, "the demo finished before the kill point; choose an earlier one"
    _, run_id = stored_events(home / "shopfloor.db")
    assert run_id is not None
    resumed = cli(home, "resume", run_id, "--headless", "--trace-file", str(spans_file))
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]

    spans = [json.loads(line) for line in spans_file.read_text().splitlines()]
    assert len({span["context"]["trace_id"] for span in spans}) == 1, "one run, one trace"
    (root,) = [span for span in spans if span["parent_id"] is None]
    assert root["attributes"]["shopfloor.resumed"] is True
    assert root["attributes"]["shopfloor.outcome"] == "shipped"
    ids = {span["context"]["span_id"] for span in spans}
    missing = {span["parent_id"] for span in spans} - ids - {None}
    (link,) = root["links"]
    assert link["context"]["span_id"] in missing  # the killed root, never written
    # Spans still open at the SIGKILL (the root, the stage under way) are never written, so
    # their finished children point at nothing: each such child is the killed process's.
    orphans = [span for span in spans if span["parent_id"] in missing]
    assert all(span["start_time"] < root["start_time"] for span in orphans), orphans


def trace_lines(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0
