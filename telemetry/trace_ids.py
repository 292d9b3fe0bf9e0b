"""One run, one trace, one root: a run's trace id and its root span's id, derived from the run.

A run stopped or killed and carried on by ``shopfloor resume`` is traced by two processes.
With the SDK's random ids each process's spans made a trace of their own, found together
only by searching ``shopfloor.run_id``. Here the trace id is a function of the run (its id and
the time of its RunStarted, which the resumed process reads from the log), and so is the id
of the run's root span (written by the process that finishes the run): every process hangs its
spans on it without any process having said the root's id anywhere. The spans started for an
event get ids derived from the event, so that a later process can write, with their ids, the
spans a killed one left open (``telemetry.span_replay``).

:class:`RunTraceIds` is the ``IdGenerator`` of the tracer's ``TracerProvider``: random ids,
as the SDK's own, except for the root span started inside :meth:`RunTraceIds.root` and the
spans started inside :meth:`RunTraceIds.event`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import INVALID_SPAN_ID, INVALID_TRACE_ID, SpanContext, TraceFlags

from telemetry.run_spans import ns


@dataclass(frozen=True)
class RunRoot:
    """The ids a run's trace is known by: its trace id, and its root span's id."""

    trace_id: int
    span_id: int

    @classmethod
    def of(cls, run_id: str, started: datetime) -> RunRoot:
        """The ids of run ``run_id`` started at ``started`` (its RunStarted's time): the same
        in every process that traces the run, different for any other run."""
        key = f"shopfloor run {run_id} {ns(started)}".encode()
        digest = hashlib.sha256(key).digest()
        trace_id = int.from_bytes(digest[:16], "big") or 1
        span_id = int.from_bytes(digest[16:24], "big") or 1
        return cls(trace_id, span_id)

    def root_context(self) -> SpanContext:
        """The context of the run's root span: the parent of every process's top span and of
        the stages, whichever process writes the root (the one that finishes the run)."""
        return span_context(self.trace_id, self.span_id)

    def event_span_id(self, seq: int, nth: int) -> int:
        """The id of the ``nth`` span started for the run's event ``seq``: the same in the
        process that traced the event live and in one that replays the run's log."""
        key = f"shopfloor span {self.trace_id:032x} {self.span_id:016x} {seq} {nth}".encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") or 1


def span_context(trace_id: int, span_id: int) -> SpanContext:
    """A sampled context for a span known by its ids only (never started in this process)."""
    return SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )


@dataclass
class _Pending:
    trace_id: int
    span_id: int | None


@dataclass
class _Event:
    run: RunRoot
    seq: int
    started: int = 0


class RunTraceIds(IdGenerator):
    """Random ids, but a run's root span takes the run's trace and span ids when started
    inside :meth:`root`, and the spans started for one of its events inside :meth:`event`
    take ids derived from the event."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()
        self._pending: ContextVar[_Pending | None] = ContextVar("run_root", default=None)
        self._event: ContextVar[_Event | None] = ContextVar("run_event", default=None)

    @contextmanager
    def event(self, run: RunRoot, seq: int) -> Iterator[None]:
        """The spans started in this block, for the run's event ``seq``, take
        :meth:`RunRoot.event_span_id` ids, in the order they start."""
        token = self._event.set(_Event(run, seq))
        try:
            yield
        finally:
            self._event.reset(token)

    @contextmanager
    def root(self, run: RunRoot) -> Iterator[None]:
        """The root span started in this block takes ``run``'s trace id and its root span id
        (the span id once: any later span gets a random one)."""
        token = self._pending.set(_Pending(run.trace_id, run.span_id))
        try:
            yield
        finally:
            self._pending.reset(token)

    def generate_trace_id(self) -> int:
        """The pending run's trace id, else a random one."""
        pending = self._pending.get()
        if pending is None or pending.trace_id == INVALID_TRACE_ID:
            return self._random.generate_trace_id()
        return pending.trace_id

    def generate_span_id(self) -> int:
        """The pending root's span id (once), else the next id derived from the event being
        traced, else a random one."""
        pending = self._pending.get()
        span_id = pending.span_id if pending is not None else None
        if pending is None or span_id is None or span_id == INVALID_SPAN_ID:
            event = self._event.get()
            if event is None:
                return self._random.generate_span_id()
            event.started += 1
            return event.run.event_span_id(event.seq, event.started)
        pending.span_id = None
        return span_id

    def is_trace_id_random(self) -> bool:
        """A derived trace id is a hash, not random bits (the W3C flag is left off for it)."""
        return self._pending.get() is None
