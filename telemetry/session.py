"""Telemetry for one run: the metrics endpoint and the trace, wired to the run's event bus.

The composition root asks for :class:`RunTelemetry` with the command line's options before
the run starts (so a port already in use is a clear error before any work is done), attaches
it to the bus, and closes it after the bus closed: the subscribers drain, the trace is
flushed to its exporters, and the /metrics endpoint stays up ``metrics_linger_s`` longer so a
scraper can collect the final values of a short run.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client.exposition import start_http_server

from engine.bus import EventBus
from engine.events import EventBase
from engine.redaction import Redactor
from telemetry.metrics import FactoryMetrics
from telemetry.span_export import make_tracer_provider
from telemetry.tracing import RunTracer


class TelemetryError(ValueError):
    """Telemetry cannot start as asked (port in use, trace file not writable). One line."""


@dataclass(frozen=True)
class TelemetryOptions:
    """What the command line asked of telemetry for a run."""

    metrics_port: int | None = None
    """Serve /metrics on this port for the life of the run (0 = any free port)."""
    metrics_host: str = "127.0.0.1"
    """Address to bind the metrics endpoint to."""
    metrics_linger_s: float = 0.0
    """Keep serving /metrics this long after the run ended."""
    trace_file: Path | None = None
    """Also write spans as JSON lines to this file."""
    otel_content: bool = False
    """Put the request and agents' completions on spans (off: metadata only)."""


class MetricsServer:
    """The /metrics HTTP endpoint of a registry, served from a daemon thread."""

    def __init__(self, metrics: FactoryMetrics, host: str, port: int) -> None:
        """Bind ``host:port`` and start serving; raises TelemetryError when it cannot bind."""
        try:
            server, thread = start_http_server(port, addr=host, registry=metrics.registry)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise TelemetryError(f"cannot serve metrics on {host}:{port}: {reason}") from exc
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread
        self.host = host
        self.port = int(server.server_address[1])

    @property
    def url(self) -> str:
        """Where to scrape."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class RunTelemetry:
    """Metrics and traces of one run, fed by the run's event bus."""

    def __init__(
        self,
        options: TelemetryOptions,
        *,
        environ: Mapping[str, str] | None = None,
        redactor: Redactor | None = None,
        exporters: Sequence[SpanExporter] = (),
    ) -> None:
        """Start what ``options`` ask for: bind the metrics port, open the trace exporters.

        Raises :class:`TelemetryError` on a port that cannot be bound or a trace file that
        cannot be written. ``exporters`` adds span exporters (tests use an in-memory one).
        """
        self.options = options
        self.redactor = redactor if redactor is not None else Redactor.from_environ(environ)
        self.metrics = FactoryMetrics(redactor=self.redactor)
        self.server: MetricsServer | None = None
        if options.metrics_port is not None:
            self.server = MetricsServer(self.metrics, options.metrics_host, options.metrics_port)
        try:
            self.provider: TracerProvider | None = make_tracer_provider(
                options.trace_file, environ, exporters
            )
        except OSError as exc:
            self._stop_server()
            raise TelemetryError(
                f"cannot write trace file {options.trace_file}: {exc.strerror or exc}"
            ) from exc
        self.tracer = (
            RunTracer(self.provider, content=options.otel_content, redactor=self.redactor)
            if self.provider is not None
            else None
        )
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def serves_metrics(self) -> bool:
        """Whether /metrics is served: only then is a resumed run's log worth reading again
        for :meth:`attach` (``history``)."""
        return self.server is not None

    def attach(self, bus: EventBus, history: Sequence[EventBase] = ()) -> None:
        """Subscribe the metrics and the tracer to ``bus``; they run until it closes.

        A bus that starts from a stored run's state (a resume) is taken over first: the run
        is counted active, its gauges start where its log left them, its counters at the
        run's totals in ``history`` (its stored events, :meth:`FactoryMetrics.resume`), and
        its spans get a root.
        """
        if bus.state.run_id:
            self.metrics.resume(bus.state, history)
            if self.tracer is not None:
                self.tracer.resume(bus.state)
        self._tasks.append(
            asyncio.create_task(self.metrics.consume(bus.subscribe("metrics")), name="metrics")
        )
        if self.tracer is not None:
            self._tasks.append(
                asyncio.create_task(self.tracer.consume(bus.subscribe("tracing")), name="tracing")
            )

    async def close(self, stop: asyncio.Event | None = None) -> None:
        """Wait for the subscribers (after the bus closed), flush traces, stop the endpoint.

        The endpoint lingers ``metrics_linger_s`` after the flush, or until ``stop`` is set.
        """
        try:
            if self._tasks:
                await asyncio.gather(*self._tasks)
        finally:
            self._tasks.clear()
            try:
                if self.tracer is not None:
                    self.tracer.close()
                if self.provider is not None:
                    await asyncio.to_thread(self.provider.shutdown)
                if self.server is not None and self.options.metrics_linger_s > 0:
                    await _linger(self.options.metrics_linger_s, stop)
            finally:
                self._stop_server()

    def _stop_server(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None


async def _linger(seconds: float, stop: asyncio.Event | None) -> None:
    """Wait ``seconds``, or less if ``stop`` is set meanwhile."""
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
