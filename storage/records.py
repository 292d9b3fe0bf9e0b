"""What queries on the projections return: small frozen records, one per row.

Each record builds itself from a row (its fields are named after the columns), so the CLI
(``runs --json``, ``approvals``) and other processes (attach, serve-metrics) read projections
the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Row

from engine.events import Outcome


def _columns(cls: type, row: Row[Any]) -> dict[str, Any]:
    """Each dataclass field of ``cls`` read from the column of ``row`` with the same name."""
    m = row._mapping
    return {f.name: m[f.name] for f in fields(cls)}


@dataclass(frozen=True)
class RunRecord:
    """One row of the ``runs`` projection: what is known about a run at a glance."""

    run_id: str
    request: str
    repo: str
    mode: str
    branch: str | None
    integration_branch: str
    outcome: Outcome
    reason: str
    simulated: bool
    tasks_total: int
    tasks_merged: int
    created_at: datetime
    finished_at: datetime | None
    last_seq: int

    @classmethod
    def from_row(cls, row: Row[Any]) -> RunRecord:
        """Build a record from a ``runs`` row."""
        values = _columns(cls, row)
        values["outcome"] = Outcome(values["outcome"])
        values["simulated"] = bool(values["simulated"])
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, as ``shopfloor runs --json`` prints it. Times are ISO 8601 UTC."""
        return {
            "run_id": self.run_id,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "repo": self.repo,
            "mode": self.mode,
            "branch": self.branch,
            "integration_branch": (
                self.integration_branch or None if self.mode != "audit" else None
            ),  # an audit makes none
            "tasks": self.tasks_total,
            "tasks_merged": self.tasks_merged,
            "request": self.request,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "simulated": self.simulated,
            "last_seq": self.last_seq,
        }


@dataclass(frozen=True)
class TaskRecord:
    """One row of the ``tasks`` projection."""

    run_id: str
    task_id: str
    title: str
    state: str
    attempts: int
    reason: str

    @classmethod
    def from_row(cls, row: Row[Any]) -> TaskRecord:
        """Build a record from a ``tasks`` row."""
        return cls(**_columns(cls, row))


@dataclass(frozen=True)
class EscalationRecord:
    """One row of the ``escalations`` projection; ``decision`` is None while it is open."""

    run_id: str
    escalation_id: str
    kind: str
    question: str
    options: tuple[str, ...]
    task_id: str | None
    default: str | None
    decision: str | None
    decided_by: str | None
    note: str
    raised_at: datetime
    decided_at: datetime | None

    @property
    def is_open(self) -> bool:
        """No decision was logged for it yet."""
        return self.decision is None

    @classmethod
    def from_row(cls, row: Row[Any]) -> EscalationRecord:
        """Build a record from an ``escalations`` row."""
        values = _columns(cls, row)
        values["options"] = tuple(json.loads(values["options"]))
        return cls(**values)


@dataclass(frozen=True)
class LearningRecord:
    """One row of the ``learnings`` projection."""

    run_id: str
    learning_id: str
    kind: str
    text: str
    source: str
    tags: tuple[str, ...]
    recorded_at: datetime

    @classmethod
    def from_row(cls, row: Row[Any]) -> LearningRecord:
        """Build a record from a ``learnings`` row."""
        values = _columns(cls, row)
        values["tags"] = tuple(json.loads(values["tags"]))
        return cls(**values)


R = TypeVar("R", RunRecord, TaskRecord, EscalationRecord, LearningRecord)

FREE_TEXT: dict[type, tuple[str, ...]] = {
    RunRecord: ("request", "reason"),
    TaskRecord: ("title", "reason"),
    EscalationRecord: ("question", "note"),
    LearningRecord: ("text",),
}
"""The columns of each record copied from an event's free text
(:data:`engine.event_redaction.FREE_TEXT`): what :func:`cleaned` redacts."""


def cleaned(record: R, redact: Callable[[str], str]) -> R:
    """``record`` with its free text (:data:`FREE_TEXT`) passed through ``redact``: the same
    record when nothing changed, else a copy."""
    values = record.__dict__
    update: dict[str, Any] = {
        name: new for name in FREE_TEXT[type(record)] if (new := redact(old := values[name])) != old
    }
    return replace(record, **update) if update else record
