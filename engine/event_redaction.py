"""Which fields of an event hold text from outside the engine, and cleaning them of secrets.

The bus cleans every event's free text (:data:`FREE_TEXT`) with a :class:`~engine.redaction.
Redactor` as it emits it, the store each event it reads back, the headless console each it
prints. The redactor itself only knows text: the CLI cleans an error's line with it without
loading pydantic and the event models, which this module imports.
"""

from __future__ import annotations

from typing import Any, TypeVar

from engine.blueprint import Blueprint, Task
from engine.event_codec import event_from_json, event_to_json
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
from engine.redaction import Redactor

E = TypeVar("E", bound=EventBase)
T = TypeVar("T")

FREE_TEXT: dict[type[object], tuple[str, ...]] = {
    AgentOutput: ("text",),
    TaskStateChanged: ("reason", "context"),
    GateFinished: ("summary", "findings", "output_tail"),
    AgentFinished: ("summary",),
    TaskReviewed: ("notes",),
    CircuitBreakerTripped: ("signature",),
    MergeConflict: ("detail",),
    EscalationRaised: ("question", "context"),
    EscalationResolved: ("note",),
    RunStarted: ("request",),
    CriticScored: ("rationale", "cannibalizes"),
    KillGateTripped: ("reason",),
    BlueprintProposed: ("blueprint",),
    Blueprint: ("spec", "acceptance_criteria", "tasks"),
    Task: ("title", "description", "test_plan"),
    ReviewScored: ("findings",),
    TwinDecided: ("notes", "redlines"),
    QCScored: ("notes",),
    VerificationFinished: ("broken", "checklist"),
    LearningRecorded: ("text",),
    RunFinished: ("reason",),
}
"""The fields of each event (and of the models inside one) that hold text from outside the
engine — a model's words, a gate's output, an exception's message, a person's note — which
:func:`clean_event` searches. Ids, model names, paths and the engine's own options are
left as they are: they key the run's state, and a task id cleaned in one event and not in
the next would be two tasks."""

NO_FREE_TEXT: frozenset[type[EventBase]] = frozenset(
    {
        RunResumed,
        RunInterrupted,
        StageChanged,
        ReviewRoundFinished,
        BudgetUpdated,
        BudgetLimitsSet,
        AgentStarted,
        LLMCallFinished,
        MergeQueued,
        Merged,
    }
)
"""The events with no such text (a test checks every event type is in one of the two)."""


def _free_texts(value: object, into: list[str]) -> None:
    """Append every free text of ``value`` (an event, a plan, a list, a string...) to
    ``into``."""
    names = FREE_TEXT.get(type(value))
    if names is not None:
        values = value.__dict__
        for name in names:
            item = values[name]
            if type(item) is str:
                into.append(item)
            elif item:
                _free_texts(item, into)
    elif isinstance(value, str):
        into.append(value)
    elif isinstance(value, list):
        for item in value:
            _free_texts(item, into)
    elif isinstance(value, dict):
        for key, item in value.items():
            _free_texts(key, into)
            _free_texts(item, into)


def clean_event(redactor: Redactor, value: T) -> T:
    """``value`` with the secrets in its free text (:data:`FREE_TEXT`) replaced: the same
    object when it holds none, else a copy.

    The bus calls this on every event it emits, so the common case is made cheap: an
    event with no such field costs a dictionary look-up, one whose fields are empty (a
    task's state change) a truth test each, and the rest one scan of their texts joined
    (a 3,000-task plan's titles at once) before anything is rebuilt.
    """
    names = FREE_TEXT.get(type(value))
    if names is None:
        return value
    values = value.__dict__
    for name in names:
        if values[name]:
            break
    else:
        return value
    texts: list[str] = []
    _free_texts(value, texts)
    # No shape matches across a line end, nor a secret of one line: one scan says it.
    if not redactor.contains_secret("\n".join(texts)):
        return value
    return _cleaned(redactor, value)


def _cleaned(redactor: Redactor, value: T) -> T:
    """:func:`clean_event` without its shortcut: every free text redacted, copies where any
    changed."""
    names = FREE_TEXT.get(type(value))
    if names is not None:
        values = value.__dict__
        update: dict[str, Any] = {}
        for name in names:
            old = values[name]
            new = _cleaned(redactor, old)
            if new is not old:
                update[name] = new
        if not update:
            return value
        return value.model_copy(update=update)  # type: ignore[attr-defined, no-any-return]
    if isinstance(value, str):
        return redactor.redact(value)  # type: ignore[return-value]
    if isinstance(value, list):
        items = [_cleaned(redactor, item) for item in value]
        same = all(new is old for new, old in zip(items, value, strict=True))
        return value if same else items  # type: ignore[return-value]
    if isinstance(value, dict):
        pairs = [(_cleaned(redactor, k), _cleaned(redactor, v)) for k, v in value.items()]
        same = all(
            nk is k and nv is v for (nk, nv), (k, v) in zip(pairs, value.items(), strict=True)
        )
        return value if same else dict(pairs)  # type: ignore[return-value]
    return value


def redact_event(redactor: Redactor, event: E) -> E:
    """``event`` itself when it holds no secret, else a copy with every string redacted."""
    return redacted_event(redactor, event)[0]


def redacted_event(redactor: Redactor, event: E) -> tuple[E, str]:
    """:func:`redact_event` and the redacted event's JSON, serialising it once."""
    raw = event_to_json(event)
    if not redactor.contains_secret(raw):
        return event, raw
    cleaned_json = redactor.redact_json(raw)
    cleaned: E = event_from_json(cleaned_json)  # type: ignore[assignment]
    return cleaned, cleaned_json
