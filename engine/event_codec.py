"""Events as JSON: the union of every event type, and how an event is written and read back.

:data:`Event` is the discriminated union of the event types of :mod:`engine.events`, keyed by
``type``: what the log, an export and the storage pipe hold is one of them. Storage, export
and import, the storage pipe and the redactor's round trip write and parse events through
these functions and nothing else, so the stored form of an event has one definition;
:func:`event_json_bytes` is the storage pipe's fast path. A new event type is added to the
union here.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, TypeAdapter

from engine.events import (
    AgentFinished,
    AgentOutput,
    AgentStarted,
    BlueprintProposed,
    BudgetLimitsSet,
    BudgetUpdated,
    CircuitBreakerTripped,
    CriticScored,
    EscalationRaised,
    EscalationResolved,
    EventBase,
    GateFinished,
    KillGateTripped,
    LearningRecorded,
    LLMCallFinished,
    MergeConflict,
    Merged,
    MergeQueued,
    QCScored,
    ReviewRoundFinished,
    ReviewScored,
    RunFinished,
    RunInterrupted,
    RunResumed,
    RunStarted,
    StageChanged,
    TaskReviewed,
    TaskStateChanged,
    TwinDecided,
    VerificationFinished,
)

Event = Annotated[
    RunStarted
    | RunResumed
    | RunInterrupted
    | StageChanged
    | CriticScored
    | KillGateTripped
    | BlueprintProposed
    | ReviewScored
    | ReviewRoundFinished
    | TwinDecided
    | TaskStateChanged
    | TaskReviewed
    | CircuitBreakerTripped
    | BudgetUpdated
    | BudgetLimitsSet
    | AgentStarted
    | AgentFinished
    | AgentOutput
    | LLMCallFinished
    | GateFinished
    | MergeQueued
    | Merged
    | MergeConflict
    | EscalationRaised
    | EscalationResolved
    | QCScored
    | VerificationFinished
    | LearningRecorded
    | RunFinished,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event, config=ConfigDict(defer_build=True))
"""Built on its first use, as the event models are (``defer_build``): a command that reads
no event (``runs``, ``escalations``, ``answer``) builds none of their validators, nor loads
pydantic's plugins to wrap them (~0.1 s of the ~0.6 s such a command cost)."""


def event_from_json(data: str | bytes) -> Event:
    """Parse one event from its JSON form (as stored or exported)."""
    # The union's validator itself: ``EVENT_ADAPTER.validate_json`` is a Python frame that
    # passes its default options on to it (~3k instructions of the ~19k one parse costs).
    validated: Event = EVENT_ADAPTER.validator.validate_json(data)
    return validated


def event_from_dict(data: dict[str, Any]) -> Event:
    """Parse one event from a decoded JSON object."""
    return EVENT_ADAPTER.validate_python(data)


def event_to_json(event: EventBase) -> str:
    """The JSON form of an event, as stored and exported."""
    return event.model_dump_json()


def event_json_bytes(event: EventBase) -> bytes:
    """:func:`event_to_json` as UTF-8 bytes, straight from the model's serializer.

    For the run's storage pipe, which sends every event: ``model_dump_json`` spends about a
    third of its time passing its default options through Python (1.6 against 2.5 µs here)
    and returns text the pipe would encode again. A test checks the bytes equal
    ``event_to_json``'s for every event type.
    """
    return type(event).__pydantic_serializer__.to_json(event)
