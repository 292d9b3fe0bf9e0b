"""How a batch of events changes the ``runs`` projection, computed without I/O.

The store appends a batch of events and updates ``runs`` in the same transaction. What to
write is decided here, as a pure fold over the batch: one :class:`RunDelta` per run the batch
touches, so a batch of a thousand events costs one ``UPDATE`` per run, not one per event.
Keeping it pure makes the rules — which event sets which column — testable on their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from engine.events import BlueprintProposed, EventBase, Merged, Outcome, RunFinished, RunStarted


@dataclass
class RunDelta:
    """What one batch changes in one run's row."""

    run_id: str
    last_seq: int = 0
    started: dict[str, Any] | None = None  # a full new row, from RunStarted
    tasks_total: int | None = None  # from the latest BlueprintProposed
    merged: int = 0  # Merged events to add to tasks_merged
    finished: dict[str, Any] | None = None  # outcome/reason/branch/finished_at, from RunFinished

    def update_values(self) -> dict[str, Any]:
        """Plain column values for the ``UPDATE`` (``tasks_merged`` is added separately)."""
        values: dict[str, Any] = {"last_seq": self.last_seq}
        if self.tasks_total is not None:
            values["tasks_total"] = self.tasks_total
        if self.finished is not None:
            values.update(self.finished)
        return values


def started_row(event: RunStarted) -> dict[str, Any]:
    """The ``runs`` row a RunStarted creates."""
    return {
        "run_id": event.run_id,
        "request": event.request,
        "repo": event.repo,
        "mode": event.mode,
        "branch": None,
        "integration_branch": event.integration_branch,
        "outcome": Outcome.RUNNING.value,
        "reason": "",
        "simulated": event.simulated,
        "tasks_total": 0,
        "tasks_merged": 0,
        "created_at": event.ts,
        "finished_at": None,
        "last_seq": event.seq,
    }


def finished_values(event: RunFinished) -> dict[str, Any]:
    """The columns a RunFinished sets."""
    return {
        "outcome": event.outcome.value,
        "reason": event.reason,
        "branch": event.branch,
        "finished_at": event.ts,
    }


_FOLDED = frozenset({RunStarted, BlueprintProposed, Merged, RunFinished})
"""The events that change a run's row beyond ``last_seq``; tested by exact class, as events
are final and an isinstance check on a pydantic model goes through ABCMeta."""


def fold_batch(events: Iterable[EventBase]) -> list[RunDelta]:
    """One delta per run touched by ``events``, in the order runs first appear."""
    deltas: dict[str, RunDelta] = {}
    for event in events:
        delta = deltas.get(event.run_id)
        if delta is None:
            delta = deltas[event.run_id] = RunDelta(run_id=event.run_id)
        if event.seq > delta.last_seq:
            delta.last_seq = event.seq
        if type(event) not in _FOLDED:  # most events only move last_seq
            continue
        if isinstance(event, RunStarted):
            delta.started = started_row(event)
        elif isinstance(event, BlueprintProposed):
            delta.tasks_total = len(event.blueprint.tasks)
        elif isinstance(event, Merged):
            delta.merged += 1
        elif isinstance(event, RunFinished):
            delta.finished = finished_values(event)
    return list(deltas.values())
