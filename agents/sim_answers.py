"""What the sim answers for the judging roles: the playbook's script, or a SIM default.

Every role but the planner and the engineer asks for a structured reply. The sim finds the
role's section of the playbook by the request's labels (``role`` plus ``reviewer``/``round``,
``task``/``review`` or ``mode``) and replies with its JSON. Where the answer's shape depends on
the question — the twin's options, the judge's checklist items — the sim reads them from the
request's response schema, exactly as a real model is constrained by it. A role the playbook
does not script gets a deterministic passing default whose text says it is a SIM default.
"""

from __future__ import annotations

import json
from typing import TypeVar

from agents.playbook import Playbook, Turn
from agents.provider import CompletionRequest, ToolCall
from agents.structured import schema_checklist, schema_options
from engine.roles import (
    CRITIC_CRITERIA,
    CriticReport,
    JudgeReport,
    QCReport,
    ReviewReport,
    TaskReview,
    TwinVerdict,
    VerifierReport,
)

SIM_DEFAULT = "SIM default (the playbook scripts no answer for this role)"
T = TypeVar("T")
STRUCTURED_ROLES = ("critic", "reviewer", "twin", "task_reviewer", "qc", "verifier", "judge")


def _nth(items: list[T], number: str) -> T | None:
    """Item ``number`` (1-based, as a label) of ``items``; the last repeats; None if empty."""
    if not items:
        return None
    index = max(1, int(number or "1")) - 1
    return items[min(index, len(items) - 1)]


def scripted_turn(turn: Turn, id_prefix: str) -> tuple[str, list[ToolCall]]:
    """A playbook turn as a reply: its text, and its calls with ids ``<id_prefix>-<n>``."""
    calls = [
        ToolCall(id=f"{id_prefix}-{i}", name=c.tool, arguments=dict(c.args))
        for i, c in enumerate(turn.calls)
    ]
    return turn.say, calls


def _critic(book: Playbook) -> str:
    report = book.critic or CriticReport(
        scores=dict.fromkeys(CRITIC_CRITERIA, 8.0), rationale=SIM_DEFAULT
    )
    return report.model_dump_json()


def _reviewer(book: Playbook, labels: dict[str, str]) -> str:
    if labels.get("mode") == "code":
        scripted = book.code_review.get(labels.get("reviewer", ""))
        return (scripted or ReviewReport(score=90, findings=[SIM_DEFAULT])).model_dump_json()
    rounds = book.reviewers.get(labels.get("reviewer", ""), [])
    report = _nth(rounds, labels.get("round", "1")) or ReviewReport(
        score=96, findings=[SIM_DEFAULT]
    )
    return report.model_dump_json()


def _twin(book: Playbook, request: CompletionRequest) -> str:
    if request.labels.get("mode") == "answer":
        options = schema_options(request.response_schema)
        question = request.messages[0].content if request.messages else ""
        script = book.twin.answers if book.twin else []
        for answer in script:
            if answer.match in question and (not options or answer.choice in options):
                return json.dumps({"choice": answer.choice, "reason": "scripted (SIM)"})
        choice = options[0] if options else ""
        return json.dumps({"choice": choice, "reason": SIM_DEFAULT})
    verdict = (
        book.twin.decision
        if book.twin
        else TwinVerdict(decision="ACCEPT", confidence=0.95, notes=SIM_DEFAULT)
    )
    return verdict.model_dump_json()


def _task_reviewer(book: Playbook, labels: dict[str, str]) -> str:
    reviews = book.task_reviewer.get(labels.get("task", ""), [])
    review = _nth(reviews, labels.get("review", "1")) or TaskReview(
        approved=True, score=90, notes=SIM_DEFAULT
    )
    return review.model_dump_json()


def _judge(book: Playbook, request: CompletionRequest) -> str:
    items = schema_checklist(request.response_schema)
    script = book.judge
    failed = script.failed if script else []
    checklist = {item: not any(text in item for text in failed) for item in items}
    score, notes = (script.score, script.notes) if script else (95, SIM_DEFAULT)
    return JudgeReport(checklist=checklist, score=score, notes=notes).model_dump_json()


def _verifier(book: Playbook, turn_index: int) -> tuple[str, list[ToolCall]]:
    script = book.verifier
    turns: list[Turn] = script.turns if script else []
    if turn_index < len(turns):
        return scripted_turn(turns[turn_index], f"sim-verifier-{turn_index}")
    report = script.report if script else VerifierReport(tried=[SIM_DEFAULT])
    return report.model_dump_json(), []


def structured_answer(
    book: Playbook, request: CompletionRequest, turn_index: int
) -> tuple[str, list[ToolCall]]:
    """The sim's reply to a judging role: text (JSON) and, for the verifier, tool calls."""
    role = request.labels.get("role", "")
    labels = request.labels
    if role == "verifier":
        return _verifier(book, turn_index)
    if role == "critic":
        text = _critic(book)
    elif role == "reviewer":
        text = _reviewer(book, labels)
    elif role == "twin":
        text = _twin(book, request)
    elif role == "task_reviewer":
        text = _task_reviewer(book, labels)
    elif role == "qc":
        text = (book.qc or QCReport(score=90, notes=SIM_DEFAULT)).model_dump_json()
    elif role == "judge":
        text = _judge(book, request)
    else:
        raise ValueError(f"not a structured role: {role!r}")
    return text, []
