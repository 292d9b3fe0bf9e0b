"""Telemetry for one run: the metrics endpoint and the trace, wired to the run's event bus.

The composition root asks for :class:`RunTelemetry` with the command line's options before
the run starts (so a port already in use is a clear error before any work is done), attaches
it to the bus, and closes it after the bus closed: the subscribers drain, the trace is
flushed to its exporters, and the /metrics endpoint stays up until its scrapers have collected
the run's final values.

Prometheus only knows what its last scrape of a run's endpoint said. A process that exited
as soon as its run ended left ``shopfloor_runs_active 1`` as that last word, nearly always
(the run ended between two scrapes), and ``ShopfloorFactoryDown`` paged for a run that had
shipped. So an endpoint that has been scraped waits, at the end, for one scrape that started
after the final values were folded, by each scraper still around (both servers of an HA
pair; :mod:`telemetry.scrapes`): at most two scrape intervals of the slowest, as observed (60 s
while only one scrape has come, and never more), cut short by a stop signal. One never
scraped exits at once, as does a run stopped by a signal (Ctrl-C, SIGTERM: a person or
systemd asked for it now). ``metrics_linger_s`` (``--metrics-linger``) replaces the wait by
a fixed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import make_wsgi_app

from engine.bus import EventBus
from engine.events import EventBase
from engine.redaction import Redactor
from telemetry.metrics import FactoryMetrics
from telemetry.options import TelemetryOptions
from telemetry.scrapes import Scrapes
from telemetry.span_export import make_tracer_provider, span_ids_in
from telemetry.tracing import RunTracer


class TelemetryError(ValueError):
    """Telemetry cannot start as asked (port in use, trace file not writable). One line."""


def open_run_tracer(
    trace_file: Path | None,
    *,
    content: bool = False,
    redactor: Redactor | None = None,
    environ: Mapping[str, str] | None = None,
    exporters: Sequence[SpanExporter] = (),
) -> tuple[TracerProvider, RunTracer] | None:
    """A run's tracer and the provider it exports through (shut it down when done), or None
    when no trace is configured (no ``trace_file``, no OTLP endpoint, no ``exporters``).

    Raises :class:`TelemetryError` when ``trace_file`` cannot be written, or the OTLP
    endpoint the environment names is no URL, before any span is.
    With a ``trace_file``, the tracer reads which spans it holds already (a resume writes
    those a killed process lost: ``RunTracer``'s ``written``).
    """
    try:
        provider = make_tracer_provider(trace_file, environ, exporters)
    except OSError as exc:
        raise TelemetryError(
            f"cannot write trace file {trace_file}: {exc.strerror or exc}"
        ) from exc
    except ValueError as exc:  # otlp_endpoint's: a variable that is no URL
        raise TelemetryError(str(exc)) from exc
    if provider is None:
        return None
    written = functools.partial(span_ids_in, trace_file) if trace_file is not None else None
    return provider, RunTracer(provider, content=content, redactor=redactor, written=written)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in flight does not hold the process
    scrapes: Scrapes


class _ScrapeHandler(WSGIRequestHandler):
    """Serves one request quietly; a GET (every path but the favicon is /metrics) counts as
    a scrape by its client address and User-Agent once its response is sent."""

    server: _ThreadingServer

    def handle(self) -> None:
        started = time.monotonic()
        super().handle()
        if getattr(self, "command", None) == "GET" and not self.path.startswith("/favicon.ico"):
            headers = getattr(self, "headers", None)  # unset when they could not be parsed
            agent = headers.get("User-Agent", "") if headers is not None else ""
            self.server.scrapes.served(started, (str(self.client_address[0]), agent))

    def log_message(self, format: str, *args: object) -> None:
        """Log nothing: a scrape every few seconds is not news."""


class MetricsServer:
    """The /metrics HTTP endpoint of a registry, served from a daemon thread."""

    def __init__(self, metrics: FactoryMetrics, host: str, port: int) -> None:
        """Bind ``host:port`` and start serving; raises TelemetryError when it cannot bind."""
        try:
            # As prometheus_client's start_http_server: the address family the host asks for.
            family, *_, sockaddr = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            server_class: type[_ThreadingServer] = type(
                "MetricsHTTPServer", (_ThreadingServer,), {"address_family": family}
            )
            server = make_server(
                str(sockaddr[0]),
                port,
                make_wsgi_app(metrics.registry),
                server_class,
                handler_class=_ScrapeHandler,
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise TelemetryError(f"cannot serve metrics on {host}:{port}: {reason}") from exc
        self.scrapes = server.scrapes = Scrapes()
        self._server: WSGIServer = server
        # Polled for shutdown every 0.1 s (the default 0.5 s held every run's exit that long).
        self._thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
        self._thread.start()
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
            traced = open_run_tracer(
                options.trace_file,
                content=options.otel_content,
                redactor=self.redactor,
                environ=environ,
                exporters=exporters,
            )
        except TelemetryError:
            self._stop_server()
            raise
        self.provider: TracerProvider | None = traced[0] if traced is not None else None
        self.tracer: RunTracer | None = traced[1] if traced is not None else None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def reads_history(self) -> bool:
        """Whether a resumed run's log is worth reading again for :meth:`attach`
        (``history``): for the counters /metrics serves, and for the spans the process before
        left open, which the trace gets from this one."""
        return self.server is not None or self.tracer is not None

    def attach(self, bus: EventBus, history: Sequence[EventBase] = ()) -> None:
        """Subscribe the metrics and the tracer to ``bus``; they run until it closes.

        A bus that starts from a stored run's state (a resume) is taken over first: the run
        is counted active, its gauges start where its log left them, its counters at the
        run's totals in ``history`` (its stored events, :meth:`FactoryMetrics.resume`), and
        the tracer writes the spans the process before left open (:meth:`RunTracer.resume`).
        """
        if bus.state.run_id:
            self.metrics.resume(bus.state, history)
            if self.tracer is not None:
                self.tracer.resume(bus.state, history)
        self._tasks.append(
            asyncio.create_task(self.metrics.consume(bus.subscribe("metrics")), name="metrics")
        )
        if self.tracer is not None:
            self._tasks.append(
                asyncio.create_task(
                    self.tracer.consume(bus.subscribe("tracing"), bus.durable), name="tracing"
                )
            )

    async def close(
        self, stop: asyncio.Event | None = None, say: Callable[[str], object] | None = None
    ) -> None:
        """Wait for the subscribers (after the bus closed), flush traces, stop the endpoint.

        A run this process leaves unfinished is no longer counted active. The endpoint then
        waits for a last scrape (:meth:`last_scrape`, said through ``say``), or lingers
        ``metrics_linger_s``; either ends early when ``stop`` is set.
        """
        try:
            if self._tasks:
                await asyncio.gather(*self._tasks)
        finally:
            self._tasks.clear()
            self.metrics.let_go()
            try:
                if self.tracer is not None:
                    self.tracer.close()
                if self.provider is not None:
                    await asyncio.to_thread(self.provider.shutdown)
                if self.server is not None and self.options.metrics_linger_s > 0:
                    await _linger(self.options.metrics_linger_s, stop)
                elif self.server is not None:
                    await self.last_scrape(stop, say)
            finally:
                self._stop_server()

    async def last_scrape(
        self, stop: asyncio.Event | None = None, say: Callable[[str], object] | None = None
    ) -> bool:
        """Wait until every scraper has collected the final values (a scrape of its that
        started after the metrics last changed), two of its scrape intervals at most, the
        longest of them; whether each did (:mod:`telemetry.scrapes` says who is awaited).

        Returns at once when the endpoint was never scraped, when each scraper still around
        has scraped since the last change already (a TUI left open after its run ended), or
        when ``stop`` is set (the run was stopped by a signal, or one comes while waiting).
        """
        server = self.server
        if server is None or server.scrapes.count == 0:
            return False
        changed = self.metrics.changed_at
        bounds = server.scrapes.awaited(changed)
        if not bounds:
            return True
        if stop is not None and stop.is_set():
            return False
        bound = max(bounds)
        if say is not None:
            each = f" by each of {len(bounds)} scrapers" if len(bounds) > 1 else ""
            say(
                f"waiting up to {max(1, round(bound))} s for a last scrape of {server.url}"
                f"{each}, so Prometheus sees the run end (Ctrl-C skips)"
            )
        deadline = time.monotonic() + bound
        while server.scrapes.awaited(changed):
            left = deadline - time.monotonic()
            if left <= 0 or (stop is not None and stop.is_set()):
                return False
            await _linger(min(left, 0.05), stop)
        return True

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
