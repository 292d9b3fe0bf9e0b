"""One run, one trace: a run's trace id, and its first root span's id, derived from the run.

A run stopped or killed and carried on by ``shopfloor resume`` is traced by two processes.
With the SDK's random ids each process's spans made a trace of their own, found together
only by searching ``shopfloor.run_id``. Here the trace id is a function of the run (its id and
the time of its RunStarted, which the resumed process reads from the log), so the resumed
process's spans land in the first process's trace; the first root span's id is derived too,
so the resumed root can link to it without the first process having said it anywhere.

:class:`RunTraceIds` is the ``IdGenerator`` of the tracer's ``TracerProvider``: random ids,
as the SDK's own, except for the root span started inside :meth:`RunTraceIds.root`.
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
    """The ids a run's trace is known by: its trace id, and its first root span's id."""

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

    def first_root(self) -> SpanContext:
        """The context of the run's first root span, for a link to it from a later one."""
        return SpanContext(
            self.trace_id, self.span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
        )


@dataclass
class _Pending:
    trace_id: int
    span_id: int | None


class RunTraceIds(IdGenerator):
    """Random ids, but a run's root span takes the run's trace id (and, for its first root,
    the run's span id) when started inside :meth:`root`."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()
        self._pending: ContextVar[_Pending | None] = ContextVar("run_root", default=None)

    @contextmanager
    def root(self, run: RunRoot, *, first: bool) -> Iterator[None]:
        """The root span started in this block is in ``run``'s trace; with ``first``, it also
        takes the run's first root span id (once: any later span gets a random one)."""
        token = self._pending.set(_Pending(run.trace_id, run.span_id if first else None))
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
        """The pending first root's span id (once), else a random one."""
        pending = self._pending.get()
        span_id = pending.span_id if pending is not None else None
        if pending is None or span_id is None or span_id == INVALID_SPAN_ID:
            return self._random.generate_span_id()
        pending.span_id = None
        return span_id

    def is_trace_id_random(self) -> bool:
        """A derived trace id is a hash, not random bits (the W3C flag is left off for it)."""
        return self._pending.get() is None
