"""The bus cleans every event's free text of secrets as it emits it.

What a model wrote, a gate printed or a provider's error quoted went into events as it came:
the storage writer stored it, and everything reading the log printed it. Redacting every
event's JSON on the way cost half as much again per task; the bus now searches only the
fields that hold text from outside (``FREE_TEXT``), and an event without any costs a look-up.
"""

from __future__ import annotations

import typing

import pytest

from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.event_codec import Event
from engine.event_redaction import FREE_TEXT, NO_FREE_TEXT, clean_event
from engine.events import (
    AgentOutput,
    BlueprintProposed,
    EscalationRaised,
    GateFinished,
    Merged,
    TaskState,
    TaskStateChanged,
    VerificationFinished,
)
from engine.redaction import NO_REDACTION, Redactor

SHAPED = "sk-proj-" + "a1B2" * 6
LITERAL = "hunter2-but-longer-7c1e"


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> EventBus:
    monkeypatch.setenv("SOME_SERVICE_TOKEN", LITERAL)
    return EventBus("r-clean")


def test_every_event_type_says_whether_it_carries_free_text() -> None:
    union = typing.get_args(typing.get_args(Event)[0])
    unclassified = [cls.__name__ for cls in union if (cls in FREE_TEXT) == (cls in NO_FREE_TEXT)]
    assert unclassified == []  # a new event type is classified before it can carry a key
    for cls, names in FREE_TEXT.items():
        assert set(names) <= set(cls.model_fields), cls


def test_emit_and_emit_new_deliver_events_without_keys(bus: EventBus) -> None:
    delivered = []
    bus.listen(delivered.append)
    bus.emit(AgentOutput(agent_id="a1", text=f"export KEY={SHAPED} # {LITERAL}"))
    bus.emit_new(
        TaskStateChanged,
        task_id="t1",
        state=TaskState.FAILED,
        reason=f"401 for {LITERAL}",
        context=f"E {SHAPED}",
    )
    bus.emit(
        GateFinished(
            gate="tests",
            scope="task",
            passed=False,
            summary=f"{LITERAL} leaked",
            findings=["fine", f"key {SHAPED}"],
            output_tail=SHAPED,
        )
    )
    bus.emit(
        EscalationRaised(escalation_id="e1", question=f"{LITERAL}?", options=["a"], context=SHAPED)
    )
    bus.emit(
        VerificationFinished(
            verifier_model="m",
            judge_model="j",
            broken=[SHAPED],
            checklist={f"no {LITERAL} in logs": False},
            score=1,
            threshold=2,
            passed=False,
        )
    )
    output, failed, gate, question, verified = delivered
    assert output.text == "export KEY=[REDACTED] # [REDACTED]"
    assert (failed.reason, failed.context) == ("401 for [REDACTED]", "E [REDACTED]")
    assert (gate.summary, gate.findings, gate.output_tail) == (
        "[REDACTED] leaked",
        ["fine", "key [REDACTED]"],
        "[REDACTED]",
    )
    assert (question.question, question.context) == ("[REDACTED]?", "[REDACTED]")
    assert verified.broken == ["[REDACTED]"]
    assert verified.checklist == {"no [REDACTED] in logs": False}
    # The run's state is folded from what was delivered: the engine decides on the same text
    # that is stored, so a resumed run refolds what this one saw.
    assert bus.state.open_escalations[0].context == "[REDACTED]"
    assert [event.seq for event in delivered] == [1, 2, 3, 4, 5]


def test_a_plans_words_are_cleaned_and_its_ids_and_paths_kept(bus: EventBus) -> None:
    # ``sk-`` and sixteen characters with a digit: the shape of an old OpenAI key, and of a
    # task id a planner could write. Ids key the run's state; cleaned, two events would name
    # two tasks.
    task = Task(
        id="sk-learn-pipeline-v2",
        title=f"wire {SHAPED}",
        description=LITERAL,
        files=["src/app.py"],
        test_plan=f"check {SHAPED}",
    )
    plan = Blueprint(spec=f"uses {LITERAL}", acceptance_criteria=[SHAPED, "ok"], tasks=[task])
    proposed = bus.emit(BlueprintProposed(blueprint=plan))
    cleaned = proposed.blueprint
    assert cleaned.spec == "uses [REDACTED]"
    assert cleaned.acceptance_criteria == ["[REDACTED]", "ok"]
    (kept,) = cleaned.tasks
    assert (kept.id, kept.files) == ("sk-learn-pipeline-v2", ["src/app.py"])
    assert (kept.title, kept.description, kept.test_plan) == (
        "wire [REDACTED]",
        "[REDACTED]",
        "check [REDACTED]",
    )


def test_an_event_without_a_secret_is_delivered_as_it_was_built() -> None:
    redactor = Redactor([LITERAL])
    plain = [
        AgentOutput(agent_id="a1", text="running the tests through the high-level harness"),
        TaskStateChanged(task_id="t1", state=TaskState.RUNNING),
        GateFinished(gate="lint", scope="task", passed=True, summary="ok", findings=["a"]),
        Merged(task_id="t1", attempt=1, commit="c" * 40),
        BlueprintProposed(blueprint=Blueprint(spec="s", tasks=[Task(id="t", title="T")])),
    ]
    for event in plain:
        assert clean_event(redactor, event) is event  # no copy on the common path


def test_a_bus_can_be_given_its_redactor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_SERVICE_TOKEN", LITERAL)
    bus = EventBus("r-raw", redactor=NO_REDACTION)
    assert bus.emit(AgentOutput(agent_id="a1", text=LITERAL)).text == LITERAL
