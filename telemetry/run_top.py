"""The run's root span and each process's own span: what they are written from and carry.

:class:`telemetry.tracing.RunTracer` writes the root (``run MODE``) when the run finishes,
from :class:`RunTop`, and opens a process's span (``drive MODE``, ``resume MODE``,
``abandon MODE``) as the process takes the run on; ``telemetry.tracing`` says why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from engine.events import RunStarted
from engine.state import RunState
from telemetry.run_spans import AttrValue
from telemetry.trace_ids import RunRoot


@dataclass(frozen=True)
class RunTop:
    """What the run's root is written from: the run (its RunStarted, or the state a resumed
    process read), when it started, and its derived ids (None: the provider's are random)."""

    source: RunStarted | RunState
    start: int
    ids: RunRoot | None


def run_attributes(source: RunStarted | RunState, *, content: bool) -> dict[str, AttrValue | None]:
    """The root's attributes: the run's (its request only with ``content``)."""
    return {
        "shopfloor.run_id": source.run_id,
        "shopfloor.mode": source.mode,
        "shopfloor.repo": source.repo,
        "shopfloor.base_branch": source.base_branch,
        "shopfloor.integration_branch": source.integration_branch,
        "shopfloor.simulated": source.simulated,
        "shopfloor.request": source.request if content else None,
    }


def process_attributes(source: RunStarted | RunState) -> dict[str, AttrValue | None]:
    """A process's span's attributes: the run it drives, and its pid."""
    return {
        "shopfloor.run_id": source.run_id,
        "shopfloor.mode": source.mode,
        "shopfloor.process.pid": os.getpid(),
    }
