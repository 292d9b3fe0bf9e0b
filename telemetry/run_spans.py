"""The spans of a traced run: which are still open, and how each is started and ended.

Events arrive after what they describe happened, so :class:`SpanWriter` starts and ends
every span at an explicit time taken from an event's timestamp (:func:`ns`), and passes each
string attribute, span names included, through the redactor, capped at
:data:`MAX_ATTRIBUTE_LENGTH`. :class:`RunSpans` holds one run's open spans, keyed the way
events refer to them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from engine.redaction import Redactor

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_ATTRIBUTE_LENGTH = 4096

AttrValue = str | bool | int | float


def ns(ts: datetime) -> int:
    """Nanoseconds since the epoch, exact to the microsecond, as OpenTelemetry wants times."""
    return ((ts - _EPOCH) // timedelta(microseconds=1)) * 1000


class SpanWriter:
    """Starts and ends spans at the times events give, with redacted, capped attributes."""

    def __init__(self, tracer: trace.Tracer, redactor: Redactor) -> None:
        self.tracer = tracer
        self.redactor = redactor

    def text(self, value: str) -> str:
        """``value`` redacted and cut to :data:`MAX_ATTRIBUTE_LENGTH`."""
        return self.redactor.redact(value)[:MAX_ATTRIBUTE_LENGTH]

    def attrs(self, raw: Mapping[str, AttrValue | None]) -> dict[str, AttrValue]:
        """The attributes that have a value, strings passed through :meth:`text`."""
        return {
            key: self.text(value) if isinstance(value, str) else value
            for key, value in raw.items()
            if value is not None
        }

    def start(
        self,
        name: str,
        parent: Span | None,
        start: int,
        attributes: Mapping[str, AttrValue | None],
        kind: SpanKind = SpanKind.INTERNAL,
        links: Sequence[Link] = (),
    ) -> Span:
        """A span started at ``start`` (ns) under ``parent``; a root span when None."""
        context = trace.set_span_in_context(parent) if parent is not None else None
        return self.tracer.start_span(
            self.text(name),
            context=context,
            kind=kind,
            attributes=self.attrs(attributes),
            links=links,
            start_time=start,
        )

    def end(self, span: Span | None, end: int, error: str | None = None) -> None:
        """End ``span`` (if any) at ``end`` (ns), marked as an error when ``error`` says why."""
        end_span(span, end, error)


def end_span(span: Span | None, end: int, error: str | None = None) -> None:
    """End ``span`` (if any) at ``end`` (ns), marked as an error when ``error`` says why."""
    if span is None:
        return
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error))
    span.end(end_time=end)


@dataclass
class RunSpans:
    """The spans of one run that are still open, keyed the way events refer to them."""

    run: Span | None = None
    """The run's root: only its context (the root is written when the run finishes), or,
    without derived ids, the root span itself."""
    process: Span | None = None
    """This process's own span (``drive MODE``, ``resume MODE``), a child of the root."""
    stage: Span | None = None
    tasks: dict[str, Span] = field(default_factory=dict)
    attempts: dict[str, tuple[int, Span]] = field(default_factory=dict)
    merges: dict[str, Span] = field(default_factory=dict)
    agents: dict[str, Span] = field(default_factory=dict)
    escalations: dict[str, Span] = field(default_factory=dict)
    last_ns: int = 0

    def attempt_span(self, task_id: str | None, attempt: int) -> Span | None:
        """The open span of ``task_id``'s attempt ``attempt`` (0: whichever is open)."""
        if task_id is None:
            return None
        current = self.attempts.get(task_id)
        if current is not None and (attempt == 0 or current[0] == attempt):
            return current[1]
        return None

    def parent(self) -> Span | None:
        """Where a span that belongs to no task goes: the current stage, else the run."""
        return self.stage or self.run or self.process

    def open_spans(self) -> list[Span]:
        """The open spans but the run's and the process's, parents before their children."""
        return [
            *([self.stage] if self.stage is not None else []),
            *self.tasks.values(),
            *(span for _, span in self.attempts.values()),
            *self.merges.values(),
            *self.agents.values(),
            *self.escalations.values(),
        ]

    def forget_open(self) -> None:
        """Forget the open spans but the run's and the process's, without ending them."""
        self.stage = None
        for spans in (self.tasks, self.attempts, self.merges, self.agents, self.escalations):
            spans.clear()

    def end_open(self, at: int, error: str | None) -> None:
        """End, at ``at``, every open span but the run's own (the stage's without ``error``)."""
        for span in [*self.agents.values(), *self.merges.values(), *self.escalations.values()]:
            end_span(span, at, error)
        for _, span in self.attempts.values():
            end_span(span, at, error)
        for span in self.tasks.values():
            end_span(span, at, error)
        self.agents.clear()
        self.merges.clear()
        self.escalations.clear()
        self.attempts.clear()
        self.tasks.clear()
        end_span(self.stage, at)
        self.stage = None
