"""The spans a stopped or killed process left open, written by the process that resumes the run.

A process killed by SIGKILL exports nothing that was still open (its stage under way, the
tasks and attempts in flight, a merge, an agent), yet it did export what had finished under
them: a gate under the attempt, a chat under the agent. A stopped process could write its open
spans, but the process that resumes the run cannot tell from the log whether the one before
it was stopped or killed, and two processes must never write one span. So a process that
stops without finishing leaves its open spans unwritten, like a killed one, and the process
that resumes the run writes them: it folds the run's stored events through a tracer whose
:class:`ReplayWriter` starts no span but gives each the id the live process gave it (ids
derived from the event, :meth:`telemetry.trace_ids.RunTraceIds.event`), and
:func:`write_left_open` writes the spans still open at the end of the log, ended at its last
event, marked ``shopfloor.interrupted``. What each span said after it started (an attribute
set later, a span event) is not in the replay.

The live process traces an event only once the log holds it (so no span is written twice),
which leaves a window: a SIGKILL after the log took an event and before the tracer wrote the
spans it ended loses them, and their children, written before, hang under a missing parent.
When the resume writes to the ``--trace-file`` the killed process wrote to, it reads which of
the run's spans the file holds (``written``) and also writes, as the log ended them, those
the replay saw end that the file lacks. Without that knowledge (spans only sent to a
collector, or a new file) the window stays, as does a collector's unsent batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, replace

from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanKind

from engine.redaction import Redactor
from telemetry.run_spans import AttrValue, RunSpans, SpanWriter
from telemetry.trace_ids import RunRoot, RunTraceIds, span_context


@dataclass(frozen=True)
class Unwritten:
    """A span as the live process started it, not written yet."""

    name: str
    parent: Span | None
    start: int
    attributes: Mapping[str, AttrValue | None]
    kind: SpanKind
    end: int | None = None
    """When the log ended it (None: open at the end of the log, or forgotten at a resume)."""
    error: str | None = None


class ReplayWriter(SpanWriter):
    """Starts no span: returns one known by the id the live process gave it, and keeps how
    it was started, for :func:`write_left_open`."""

    def __init__(
        self, tracer: trace.Tracer, redactor: Redactor, ids: RunTraceIds, run: RunRoot
    ) -> None:
        super().__init__(tracer, redactor)
        self.ids = ids
        self.run = run
        self.started: dict[int, Unwritten] = {}

    def start(
        self,
        name: str,
        parent: Span | None,
        start: int,
        attributes: Mapping[str, AttrValue | None],
        kind: SpanKind = SpanKind.INTERNAL,
        links: Sequence[Link] = (),
    ) -> Span:
        """A span with the next id derived from the event being replayed."""
        span_id = self.ids.generate_span_id()
        self.started[span_id] = Unwritten(name, parent, start, dict(attributes), kind)
        return NonRecordingSpan(span_context(self.run.trace_id, span_id))

    def end(self, span: Span | None, end: int, error: str | None = None) -> None:
        """Keep when the log ended ``span`` and why it failed, writing nothing."""
        if span is None:
            return
        unwritten = self.started.get(span.get_span_context().span_id)
        if unwritten is not None:
            self.started[span.get_span_context().span_id] = replace(unwritten, end=end, error=error)


def write_left_open(
    writer: SpanWriter,
    ids: RunTraceIds,
    replay: ReplayWriter,
    left: RunSpans,
    at: int,
    written: Set[int] | None = None,
    adopt: RunSpans | None = None,
) -> int:
    """Write the spans open in ``left`` (a replay's fold), with their ids, ended at ``at`` as
    interrupted; with ``written`` (the ids of the run's spans at the destination already),
    also the spans the replay saw end that it lacks, as the log ended them. How many,
    parents before children.

    With ``adopt`` (``shopfloor abandon``, which logs the run's ending itself), the open
    spans are started but not ended: they take their places in ``adopt`` and the ending's
    events end them (a task failed, the stage with the run), instead of each being written
    twice, once interrupted and once as the ending's span."""
    still_open = {span.get_span_context().span_id for span in left.open_spans()}
    adopted: dict[int, Span] = {}
    count = 0
    for span_id, unwritten in replay.started.items():
        if written is not None and span_id in written:
            continue
        error: str | None
        if span_id in still_open:
            end, error, interrupted = max(at, unwritten.start), "interrupted", adopt is None
        elif written is not None and unwritten.end is not None:
            end, error, interrupted = unwritten.end, unwritten.error, False
        else:
            continue
        with ids.root(RunRoot(replay.run.trace_id, span_id)):
            real = writer.start(
                unwritten.name,
                unwritten.parent,
                unwritten.start,
                {**unwritten.attributes, "shopfloor.interrupted": interrupted or None},
                unwritten.kind,
            )
        if adopt is not None and span_id in still_open:
            adopted[span_id] = real
            continue
        writer.end(real, end, error)
        count += 1
    if adopt is not None:
        take_over(left, adopt, adopted)
    return count


def take_over(left: RunSpans, into: RunSpans, real: Mapping[int, Span]) -> None:
    """Put the started spans ``real`` (by span id) where ``left`` kept their replays."""

    def of(span: Span) -> Span | None:
        return real.get(span.get_span_context().span_id)

    if left.stage is not None:
        into.stage = of(left.stage)
    for tasks, targets in ((left.tasks, into.tasks), (left.merges, into.merges)):
        targets.update({key: r for key, span in tasks.items() if (r := of(span)) is not None})
    into.agents.update({k: r for k, span in left.agents.items() if (r := of(span)) is not None})
    into.escalations.update(
        {k: r for k, span in left.escalations.items() if (r := of(span)) is not None}
    )
    into.attempts.update(
        {k: (n, r) for k, (n, span) in left.attempts.items() if (r := of(span)) is not None}
    )
