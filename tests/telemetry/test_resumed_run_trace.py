"""One run, one trace, one root: the process that resumes a run adds its spans under the
run's root.

Before, ``shopfloor resume`` opened a fresh trace (a root marked ``shopfloor.resumed``), so a
run stopped or SIGKILLed and resumed showed in Jaeger or Tempo as two unrelated traces, found
together only by searching ``shopfloor.run_id``; then a second root of the run's trace, linked
to the first, so a stopped and resumed run showed two roots. Now the trace id and the root's
span id are derived from the run, and the resumed process's top span is the root's child.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import telemetry_sample
from demo_process import ROOT, cli, kill_when, stored_events
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from test_run_tracing import Receiver, receiver
from trace_tree import Node, children, from_file, from_otlp, one_tree

from engine.bus import EventBus
from engine.events import EventBase, Outcome, RunFinished, RunResumed, Stage, StageChanged
from engine.redaction import Redactor
from engine.state import RunState
from storage.store import SqlEventStore
from telemetry.options import TelemetryOptions
from telemetry.session import RunTelemetry
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


def received() -> list[Node]:
    return from_otlp(
        span
        for request in Receiver.received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    )


async def test_a_stopped_and_resumed_run_is_one_tree_at_the_collector(
    receiver: str, tmp_path: Path
) -> None:
    """Stopped (its telemetry closed) and resumed: one root, written by the resume that
    finished the run and carrying its outcome; the stopped process's span under it, marked
    interrupted. Before, the root was the stopped process's and the outcome on the resume's."""
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
        await first.close()  # stopped: its own span ends, marked interrupted

        second = RunTelemetry(TelemetryOptions(), environ=env, redactor=Redactor(()))
        bus = EventBus(telemetry_sample.RUN_ID, state=await as_stored(stored, tmp_path))
        second.attach(bus, stored)
        second_process(bus)
        await bus.close()
        await second.close()

    nodes = received()
    root = one_tree(nodes)
    assert root.name == "run create" and root.attributes["shopfloor.outcome"] == "shipped"
    (drive,) = [n for n in nodes if n.name == "drive create"]
    (again,) = [n for n in nodes if n.attributes.get("shopfloor.resumed")]
    assert again.name == "resume create"
    assert drive.parent_id == again.parent_id == root.span_id
    assert drive.attributes["shopfloor.interrupted"] is True
    assert children(nodes, root) == [
        "drive create",
        "resume create",
        "stage blueprint",
        "stage build",  # the stopped process's, written by the resume
        "stage build",
        "stage ship",
    ]


async def test_a_killed_and_resumed_run_is_one_tree_at_the_collector(
    receiver: str, tmp_path: Path
) -> None:
    """SIGKILL: the killed process exported what it had ended (its batches sent before the
    kill), nothing open. The resume writes what it left open and, finishing the run, the
    root: every span at the collector has its parent there. Before, the root was never
    written and the killed process's spans hung under it."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver)
        mp.setenv("NO_PROXY", "127.0.0.1")
        provider = make_tracer_provider(environ=env)
        assert provider is not None
        killed = RunTracer(provider, redactor=Redactor(()))
        bus = EventBus(telemetry_sample.RUN_ID)
        stored: list[EventBase] = []
        bus.listen(stored.append)
        bus.listen(killed.observe)
        first_process(bus)
        provider.force_flush()  # what the batch processor had sent when the process was killed
        exported = len(received())
        assert exported and all(n.parent_id is not None for n in received())

        second = RunTelemetry(TelemetryOptions(), environ=env, redactor=Redactor(()))
        bus = EventBus(telemetry_sample.RUN_ID, state=await as_stored(stored, tmp_path))
        second.attach(bus, stored)
        second_process(bus)
        await bus.close()
        await second.close()
        provider.shutdown()  # its open spans were never ended: nothing more is sent

    nodes = received()
    root = one_tree(nodes)
    assert root.name == "run create" and root.attributes["shopfloor.outcome"] == "shipped"
    assert "drive create" not in {n.name for n in nodes}  # open at the kill, lost
    (again,) = [n for n in nodes if n.attributes.get("shopfloor.resumed")]
    assert again.parent_id == root.span_id and again.name == "resume create"
    left_open = [n.name for n in nodes[exported:] if n.attributes.get("shopfloor.interrupted")]
    assert sorted(left_open) == ["attempt b#1", "stage build", "task b"]


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
@pytest.mark.parametrize(
    ("events", "lines"),
    [(12, 1), (45, 5)],
    ids=["killed-early", "killed-mid-build"],
)
def test_a_demo_killed_and_resumed_writes_one_tree_under_one_root(
    tmp_path: Path, share_gate_cache: Callable[[Path], None], events: int, lines: int
) -> None:
    """A real ``shopfloor demo`` SIGKILLed (once ``events`` are stored and ``lines`` spans
    written) and ``shopfloor resume``d, both writing to one ``--trace-file``: one tree under
    one root, the resume's, which carries the outcome; every span's parent in the file, the
    spans the killed process had open written by the resume; no span id twice. Before, no
    root was in the file and the killed process's spans hung under missing parents."""
    home, spans_file = tmp_path / "home", tmp_path / "trace.jsonl"
    home.mkdir()
    share_gate_cache(home)
    env = {**os.environ, "SHOPFLOOR_HOME": str(home), "OTEL_BSP_SCHEDULE_DELAY": "50"}
    env.pop("SHOPFLOOR_DB", None)
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
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
        lambda: (
            stored_events(home / "shopfloor.db")[0] >= events and trace_lines(spans_file) >= lines
        ),
    )
    assert killed, "the demo finished before the kill point; choose an earlier one"
    before = trace_lines(spans_file)
    _, run_id = stored_events(home / "shopfloor.db")
    assert run_id is not None
    resumed = cli(home, "resume", run_id, "--headless", "--trace-file", str(spans_file))
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]

    nodes = from_file(spans_file)
    root = one_tree(nodes)
    assert root.name == "run create" and root.attributes["shopfloor.outcome"] == "shipped"
    assert "drive create" not in {n.name for n in nodes}  # open at the kill: lost with it
    (top,) = [n for n in nodes if n.attributes.get("shopfloor.resumed")]
    assert top.name == "resume create" and top.parent_id == root.span_id
    assert any(n.attributes.get("shopfloor.interrupted") for n in nodes[before:])


@pytest.mark.e2e
def test_a_demo_stopped_and_resumed_writes_one_tree_under_one_root(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
) -> None:
    """A real ``shopfloor demo`` stopped by SIGTERM mid-build and ``shopfloor resume``d, both
    writing to one ``--trace-file``: one root, written by the resume, with the outcome; the
    stopped process's span under it, interrupted; every span's parent in the file. Before,
    the root was the stopped process's and the outcome on the resume's span."""
    home, spans_file = tmp_path / "home", tmp_path / "trace.jsonl"
    home.mkdir()
    share_gate_cache(home)
    env = {**os.environ, "SHOPFLOOR_HOME": str(home)}
    env.pop("SHOPFLOOR_DB", None)
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    demo = ["demo", "--headless", "--speed", "50", "--out", str(tmp_path / "repo")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *demo, "--trace-file", str(spans_file)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while stored_events(home / "shopfloor.db")[0] < 60:
            assert proc.poll() is None and time.monotonic() < deadline, "the demo never got far"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    stopped = from_file(spans_file)
    assert [n.name for n in stopped if n.parent_id is None] == []  # stopped: no root
    (drive,) = [n for n in stopped if n.name == "drive create"]
    assert drive.attributes["shopfloor.interrupted"]
    _, run_id = stored_events(home / "shopfloor.db")
    assert run_id is not None
    resumed = cli(home, "resume", run_id, "--headless", "--trace-file", str(spans_file))
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]

    nodes = from_file(spans_file)
    root = one_tree(nodes)
    assert root.name == "run create" and root.attributes["shopfloor.outcome"] == "shipped"
    (top,) = [n for n in nodes if n.attributes.get("shopfloor.resumed")]
    assert top.name == "resume create" and top.parent_id == root.span_id == drive.parent_id


def trace_lines(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0
