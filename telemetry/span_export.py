"""Where a run's spans go: OTLP/HTTP, a JSON lines file, or nowhere.

:func:`make_tracer_provider` builds the tracer's own ``TracerProvider`` (never the global one)
with an exporter for each destination configured: OTLP/HTTP when ``OTEL_EXPORTER_OTLP_*``
names an endpoint, a JSON lines file for ``--trace-file``; ids from ``telemetry.trace_ids``
(a run's trace id derived from the run). A collector that stops answering is said once, with
its endpoint (credentials left out) and the first reason, and once more when it answers
again, instead of the OTLP exporter's log lines on every retry.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from telemetry.otlp_env import otlp_configured, otlp_endpoint
from telemetry.trace_ids import RunTraceIds

log = logging.getLogger(__name__)


class JsonLinesSpanExporter(SpanExporter):
    """Writes each finished span as one JSON line (``--trace-file``)."""

    def __init__(self, path: Path) -> None:
        """Open ``path`` for appending; raises OSError when it cannot be written. A last
        line cut short (a process killed while writing it) is ended first, so the next
        span starts a line of its own."""
        self.path = path
        self._lock = threading.Lock()
        self._file: IO[str] | None = path.open("a", encoding="utf-8")
        if not ends_a_line(path):
            self._file.write("\n")

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append ``spans``, one JSON object per line; after a write that failed (a full
        disk), none (:meth:`give_up`)."""
        with self._lock:
            if self._file is None:
                return SpanExportResult.FAILURE
            try:
                for span in spans:
                    self._file.write(span.to_json(indent=None) + "\n")
                self._file.flush()
            except OSError as exc:
                self.give_up(exc)
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def give_up(self, exc: OSError) -> None:
        """Say in one line that the file cannot be written, and write no more to it: the
        line a failed write cut short stays the last (before, each span was a traceback on
        stderr, and the file's close at the end another, which ended the command)."""
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):  # it flushes what failed once more
                file.close()
        log.warning(
            "traces: cannot write trace file %s (%s); its spans are dropped from here",
            self.path,
            exc.strerror or exc,
        )

    def shutdown(self) -> None:
        """Close the file."""
        with self._lock:
            if self._file is not None:
                try:
                    self._file.close()
                except OSError as exc:
                    self.give_up(exc)
                self._file = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Everything is flushed after each export already."""
        return True


def ends_a_line(path: Path) -> bool:
    """Whether ``path`` is empty or its last byte ends a line."""
    with path.open("rb") as file:
        if file.seek(0, os.SEEK_END) == 0:
            return True
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def span_ids_in(path: Path, trace_id: int) -> set[int] | None:
    """The ids of the spans of trace ``trace_id`` in the JSON lines file ``path``: None when
    it holds none of them or cannot be read (then which were written is not known). A line
    cut short by a kill is not a span written. Only a regular file is read: a device or a
    pipe given as the trace file (``/dev/full``) would be read for ever, or wait for a writer."""
    marker = f'"0x{trace_id:032x}"'
    ids: set[int] = set()
    try:
        if not path.is_file():
            return None
        with path.open(encoding="utf-8", errors="replace") as file:
            for line in file:
                if marker not in line:
                    continue
                try:
                    context = json.loads(line)["context"]
                    if int(context["trace_id"], 16) == trace_id:
                        ids.add(int(context["span_id"], 16))
                except (ValueError, KeyError, TypeError):
                    continue
    except OSError:
        return None
    return ids or None


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
    provider = TracerProvider(resource=Resource.create(attributes), id_generator=RunTraceIds())
    for exporter in chosen:
        # A file is written as each span ends: a SIGKILL loses none that ended, so the spans
        # the file holds are the ones the run's log says ended (telemetry.span_replay). A
        # collector gets batches: what ended in the last batch's interval is lost in a kill.
        if isinstance(exporter, JsonLinesSpanExporter):
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
