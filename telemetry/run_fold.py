"""What the metrics remember about one run between its events.

:class:`telemetry.metrics.FactoryMetrics` keeps a :class:`RunFold` per run it observes: the
run's stage and task states (the gauges count them), what its counters must not count twice
(attempts seen and ended), and the times the watch series read at scrape time (its last
progress, its open escalations, its merge queue).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from engine.events import (
    AgentOutput,
    BudgetUpdated,
    EscalationRaised,
    LLMCallFinished,
    Stage,
    TaskState,
)

ACTIVE_TASK_STATES = frozenset(
    {TaskState.READY, TaskState.RUNNING, TaskState.GATES, TaskState.MERGING}
)
"""Task states that say work is going on: a stopped run's tasks in them are not counted."""

NOT_PROGRESS = (AgentOutput, LLMCallFinished, BudgetUpdated, EscalationRaised)
"""Events that do not move a run on: an agent's words and model calls, spend, a question
(its answer does). Every other event of a run is progress."""


@dataclass
class RunFold:
    """What the metrics need to remember about one run between its events."""

    stage: Stage | None = None
    tasks: dict[str, TaskState] = field(default_factory=dict)
    attempts_seen: set[tuple[str, int]] = field(default_factory=set)
    attempts_ended: set[tuple[str, int]] = field(default_factory=set)
    first_running: dict[str, datetime] = field(default_factory=dict)
    queued: dict[str, datetime] = field(default_factory=dict)
    queue_moved: datetime | None = None
    open_escalations: dict[str, datetime] = field(default_factory=dict)
    last_progress: datetime | None = None
    agent_roles: dict[str, str] = field(default_factory=dict)
    started: bool = False
    finished: bool = False
    stopped: bool = False
    """Its process is gone (:meth:`FactoryMetrics.set_stopped`): its stage and its tasks
    under way are left out of the gauges until it goes on or ends."""

    def queue_waiting_since(self) -> datetime | None:
        """Since when its merge queue has not moved (None when it is empty)."""
        oldest = min(self.queued.values(), default=None)
        if oldest is None:
            return None
        return oldest if self.queue_moved is None else max(oldest, self.queue_moved)
