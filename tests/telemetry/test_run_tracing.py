"""RunTracer: one trace per run, spans nested stage -> task -> attempt -> agent -> LLM call,
GenAI attributes, times taken from the events; exported to a real OTLP/HTTP receiver."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import telemetry_sample
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from engine.bus import EventBus
from engine.events import AgentOutput, TaskState, TaskStateChanged
from engine.redaction import Redactor
from telemetry.options import TelemetryOptions
from telemetry.session import RunTelemetry
from telemetry.span_export import make_tracer_provider
from telemetry.trace_ids import RunTraceIds
from telemetry.tracing import RunTracer


def traced(*, content: bool = False, finish: bool = True) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=RunTraceIds())  # as make_tracer_provider's
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = RunTracer(provider, content=content, redactor=Redactor(()))
    bus = EventBus(telemetry_sample.RUN_ID)
    bus.listen(tracer.observe)
    if finish:
        telemetry_sample.whole_run(bus, echo="hello")
    else:
        telemetry_sample.start(bus)
        bus.emit(TaskStateChanged(task_id="a", state=TaskState.RUNNING, attempt=1))
        tracer.close()
    return list(exporter.get_finished_spans())


def by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def parent_name(spans: list[ReadableSpan], span: ReadableSpan) -> str | None:
    if span.parent is None:
        return None
    ids = {s.context.span_id: s for s in spans}
    return ids[span.parent.span_id].name


def test_one_trace_shaped_like_the_pipeline() -> None:
    spans = traced()
    assert len({s.context.trace_id for s in spans}) == 1
    (run,) = by_name(spans, "run create")
    assert run.parent is None and run.attributes["shopfloor.outcome"] == "shipped"
    assert [s.name for s in spans if s.parent and s.parent.span_id == run.context.span_id] == [
        "stage blueprint",
        "stage build",
        "stage verify",
        "stage ship",
        "drive create",  # this process's own span, ended with the run
    ]
    assert parent_name(spans, by_name(spans, "task a")[0]) == "stage build"
    assert parent_name(spans, by_name(spans, "attempt b#2")[0]) == "task b"
    first_b = by_name(spans, "attempt b#1")[0]
    assert first_b.status.status_code is StatusCode.ERROR  # its gate failed; it was retried
    engineer = by_name(spans, "invoke_agent engineer")
    assert {parent_name(spans, s) for s in engineer} == {
        "attempt a#1",
        "attempt b#1",
        "attempt b#2",
    }
    assert parent_name(spans, by_name(spans, "invoke_agent planner")[0]) == "stage blueprint"
    chats = by_name(spans, "chat claude-sonnet-4-5")
    assert len(chats) == 3 and {parent_name(spans, s) for s in chats} == {"invoke_agent engineer"}
    merge_gates = [s for s in by_name(spans, "gate tests") if parent_name(spans, s) == "merge a"]
    assert len(merge_gates) == 1
    assert parent_name(spans, by_name(spans, "merge a")[0]) == "attempt a#1"
    verify = [s for s in by_name(spans, "gate tests") if parent_name(spans, s) == "stage verify"]
    assert len(verify) == 1
    assert parent_name(spans, by_name(spans, "escalation circuit_breaker")[0]) == "stage build"
    for span in spans:  # children sit inside their parents' time
        assert span.start_time is not None and span.end_time is not None
        assert span.start_time <= span.end_time


def test_llm_spans_carry_genai_attributes_and_event_times() -> None:
    spans = traced()
    (planner,) = by_name(spans, "chat claude-opus")
    attrs = planner.attributes
    assert attrs["gen_ai.system"] == "anthropic"
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "claude-opus"
    assert attrs["gen_ai.usage.input_tokens"] == 500
    assert attrs["gen_ai.usage.output_tokens"] == 700
    assert attrs["shopfloor.role"] == "planner"
    assert abs(attrs["shopfloor.cost_usd"] - 0.05) < 1e-9
    assert planner.end_time - planner.start_time == 3_000_000_000  # latency_s = 3.0
    gate = by_name(spans, "gate tests")[0]
    assert gate.attributes["shopfloor.gate.scope"] == "task"
    assert gate.end_time - gate.start_time == 400_000_000


def test_content_only_when_enabled() -> None:
    quiet = traced(content=False)
    assert all(not s.events for s in by_name(quiet, "invoke_agent engineer"))
    assert "shopfloor.request" not in by_name(quiet, "run create")[0].attributes
    loud = traced(content=True)
    outputs = [e for s in by_name(loud, "invoke_agent engineer") for e in s.events]
    assert any(e.attributes["gen_ai.completion"] == "writing a.py hello" for e in outputs)
    assert by_name(loud, "run create")[0].attributes["shopfloor.request"] == "build two things"


def test_an_unfinished_run_is_closed_as_interrupted() -> None:
    """A process that stops without finishing ends its own span as interrupted and writes no
    root (the process that finishes the run does); what it had open it leaves to the process
    that resumes the run, which writes it (a killed process could not have)."""
    spans = traced(finish=False)
    (drive,) = by_name(spans, "drive create")
    assert drive.attributes["shopfloor.interrupted"] is True
    assert drive.status.status_code is StatusCode.ERROR
    assert not by_name(spans, "run create") and not by_name(spans, "attempt a#1")


def test_no_exporter_configured_means_no_tracing(tmp_path: Path) -> None:
    assert make_tracer_provider(None, {}) is None
    provider = make_tracer_provider(tmp_path / "t.jsonl", {})
    assert provider is not None
    provider.shutdown()


async def test_trace_file_gets_one_json_span_per_line(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    telemetry = RunTelemetry(TelemetryOptions(trace_file=path), environ={})
    bus = EventBus(telemetry_sample.RUN_ID)
    telemetry.attach(bus)
    telemetry_sample.whole_run(bus)
    await bus.close()
    await telemetry.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert "run create" in {span["name"] for span in lines}
    assert len(lines) == len(traced())  # every span of the run, once


class Receiver(BaseHTTPRequestHandler):
    """A minimal OTLP/HTTP trace receiver: POST /v1/traces with a protobuf body."""

    received: list[ExportTraceServiceRequest] = []
    paths: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        type(self).received.append(request)
        type(self).paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received, Receiver.paths = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_export_to_a_real_otlp_http_receiver(receiver: str) -> None:
    canary = "sk-ant-canary-0123456789abcdefghij"
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver, "MY_API_KEY": canary}
    with pytest.MonkeyPatch.context() as mp:  # the OTLP exporter reads its endpoint from here
        mp.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver)
        mp.setenv("NO_PROXY", "127.0.0.1")
        telemetry = RunTelemetry(TelemetryOptions(otel_content=True), environ=env)
    bus = EventBus(telemetry_sample.RUN_ID)
    telemetry.attach(bus)
    telemetry_sample.start(bus)
    bus.emit(AgentOutput(agent_id="planner", text=f"key {canary}"))
    telemetry_sample.attempt(bus, "a", 1, passes=True)
    bus.emit(TaskStateChanged(task_id="b", state=TaskState.BLOCKED))
    from engine.events import Outcome, RunFinished

    bus.emit(RunFinished(outcome=Outcome.FAILED, reason="b blocked"))
    await bus.close()
    await telemetry.close()
    assert Receiver.paths and set(Receiver.paths) == {"/v1/traces"}
    spans = [
        span
        for request in Receiver.received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    names = {span.name for span in spans}
    assert {"run create", "stage build", "task a", "attempt a#1", "chat claude-opus"} <= names
    resource = Receiver.received[0].resource_spans[0].resource
    service = {a.key: a.value.string_value for a in resource.attributes}["service.name"]
    assert service == "shopfloor"
    chat = next(s for s in spans if s.name == "chat claude-opus")
    attrs = {a.key: a.value for a in chat.attributes}
    assert attrs["gen_ai.system"].string_value == "anthropic"
    assert attrs["gen_ai.usage.output_tokens"].int_value == 700
    run = next(s for s in spans if s.name == "run create")
    assert run.status.code == 2  # STATUS_CODE_ERROR: the run failed
    assert canary.encode() not in b"".join(r.SerializeToString() for r in Receiver.received)
