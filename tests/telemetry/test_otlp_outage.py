"""A collector that is down is one line in the run's log, not four lines per batch all night.

OpenTelemetry's OTLP/HTTP exporter logs each retry and each dropped batch; a headless run
exporting to a collector that was down printed those long lines between its own, every few
seconds, for as long as it ran. The exporter here posts to a real loopback port: first
nothing listens there, then a receiver does.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer

import pytest
from opentelemetry.sdk.trace import TracerProvider
from test_run_tracing import Receiver

from telemetry.otlp_env import otlp_endpoint
from telemetry.span_export import make_tracer_provider

OTLP_LOGGER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def receiving_on(port: int) -> Iterator[None]:
    Receiver.received, Receiver.paths = [], []
    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def one_batch(provider: TracerProvider, name: str) -> None:
    provider.get_tracer("test").start_span(name).end()
    assert provider.force_flush(10_000) in (True, False)  # exported (or given up) by now


def test_a_down_collector_is_said_once_and_its_return_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.5")  # give each batch up quickly
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    caplog.set_level(logging.INFO)
    provider = make_tracer_provider(environ={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
    assert provider is not None
    try:
        for n in range(3):
            one_batch(provider, f"lost {n}")
        from_exporter = [r for r in caplog.records if r.name == OTLP_LOGGER]
        said = [r.getMessage() for r in caplog.records if r.name != OTLP_LOGGER]
        assert from_exporter == []
        assert len(said) == 1, said
        assert said[0].startswith(f"traces: cannot export spans to {endpoint}/v1/traces (")
        assert "spans are dropped until it answers" in said[0]

        with receiving_on(port):
            one_batch(provider, "delivered")
            assert Receiver.received  # the collector got the batch
        said = [r.getMessage() for r in caplog.records if r.name != OTLP_LOGGER]
        assert said[1:] == [f"traces: {endpoint}/v1/traces answers again; exporting spans"]
    finally:
        provider.shutdown()
    # After shutdown the exporter's logger is left as it was found.
    assert not logging.getLogger(OTLP_LOGGER).filters


def test_the_endpoint_in_the_log_carries_no_password() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://team:s3cret-token@collector.example:4318/"}
    assert otlp_endpoint(env) == "https://collector.example:4318/v1/traces"
    env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/custom"}
    assert otlp_endpoint(env) == "http://collector:4318/custom"
