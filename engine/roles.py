"""What the engine asks of the judging roles, and the shapes of their answers.

The planner and engineer live in :mod:`engine.protocols`; these are the roles around them:
critic, blueprint reviewers, the human twin, the task reviewer, code QC, the verifier and the
judge. agents/ implements them over models (and the SIM); tests implement them as fakes.
Every answer is a validated pydantic model, so a malformed model reply never reaches the
engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.blueprint import Blueprint, Task
from engine.protocols import EmitFn, GateResult

CRITIC_CRITERIA = ("value", "feasibility", "clarity", "scope", "testability")
"""The five criteria the critic scores 0-10."""


_NOTHING = frozenset({"", "none", "null", "nil", "n/a", "na", "no", "nothing", "false", "-"})
"""How a model writes "nothing" where null was asked for."""


def _without_nothing(value: object) -> object:
    """A list a model was asked for, without the entries that say "nothing" (``["none"]``)."""
    if not isinstance(value, list):
        return value
    return [v for v in value if not (isinstance(v, str) and _says_nothing(v))]


def _says_nothing(text: str) -> bool:
    return text.strip().rstrip(".").lower() in _NOTHING


class _Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CriticReport(_Answer):
    scores: dict[str, float]  # each of CRITIC_CRITERIA, 0-10
    compliance_risk: Literal["low", "medium", "high"] = "low"
    cannibalizes: str | None = None  # an existing capability of the repo this duplicates
    rationale: str = ""

    @field_validator("compliance_risk", mode="before")
    @classmethod
    def _risk_in_any_case(cls, value: object) -> object:
        """``High`` or `` MEDIUM `` mean what they say; anything else is still refused."""
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("cannibalizes", mode="before")
    @classmethod
    def _nothing_is_none(cls, value: object) -> object:
        """A model asked for null often writes it as a word ("none", "N/A", "no"): that
        says nothing is duplicated, and must not trip the cannibalization gate."""
        if value is False:
            return None
        if isinstance(value, str) and _says_nothing(value):
            return None
        return value

    @property
    def total(self) -> float:
        """The mean score, rounded so binary floating point cannot put a mean that is
        exactly the kill gate's minimum (6.3 from 9.7, 5.6, 6.3, 7 and 2.9) a hair below it."""
        if not self.scores:
            return 0.0
        return round(math.fsum(self.scores.values()) / len(self.scores), 9)


_MARKERS = ("<<<<<<< SEARCH\n", "\n=======\n", "\n>>>>>>> REPLACE")


class BlueprintPatch(_Answer):
    """A SEARCH/REPLACE edit on the blueprint's JSON text (indent=2)."""

    search: str
    replace: str

    @model_validator(mode="before")
    @classmethod
    def _from_markers(cls, value: object) -> object:
        """A patch written as a string in the SEARCH/REPLACE marker format (as coding agents
        write edits) is that patch; a string without all three markers is refused, naming
        them."""
        if not isinstance(value, str):
            return value
        text = value.replace("\r\n", "\n")
        start, middle, end = _MARKERS
        if text.startswith(start) and text.rstrip().endswith(end.strip()):
            body = text[len(start) :].rstrip()[: -len(end.strip())]
            search, found, replace = body.partition(middle)
            if found:
                return {"search": search, "replace": replace.removesuffix("\n")}
        raise ValueError(
            'a patch is {"search": ..., "replace": ...}, or one string of the lines '
            "<<<<<<< SEARCH, the search text, =======, the new text, >>>>>>> REPLACE"
        )

    @field_validator("search", "replace")
    @classmethod
    def _line_ends(cls, value: str) -> str:
        """CRLF line ends are LF: the blueprint's JSON text has no CR to match."""
        return value.replace("\r\n", "\n")


class ReviewReport(_Answer):
    score: int = Field(ge=0, le=100)
    findings: list[str] = Field(default_factory=list)
    patches: list[BlueprintPatch] = Field(default_factory=list)

    @field_validator("findings", mode="before")
    @classmethod
    def _no_empty_findings(cls, value: object) -> object:
        """``["none"]`` or ``[""]`` is no finding: not a note for the planner, not a lesson
        for later runs."""
        return _without_nothing(value)


class TwinVerdict(_Answer):
    decision: Literal["ACCEPT", "CHANGE", "REJECT"]
    confidence: float = Field(ge=0.0, le=1.0)
    notes: str = ""
    redlines: list[str] = Field(default_factory=list)  # owner redlines the blueprint touches

    @field_validator("decision", mode="before")
    @classmethod
    def _decision_in_any_case(cls, value: object) -> object:
        """``accept`` or `` Reject `` mean what they say; anything else is still refused."""
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("redlines", mode="before")
    @classmethod
    def _no_redline_is_none(cls, value: object) -> object:
        """``["none"]`` or ``[""]`` lists no redline: it must not send the plan to a human."""
        return _without_nothing(value)


class TaskReview(_Answer):
    approved: bool
    score: int = Field(ge=0, le=100)
    notes: str = ""


class QCReport(_Answer):
    score: int = Field(ge=0, le=100)
    notes: str = ""


class VerifierReport(_Answer):
    tried: list[str] = Field(default_factory=list)  # what the verifier attempted
    broken: list[str] = Field(default_factory=list)  # what it managed to break

    @field_validator("broken", mode="before")
    @classmethod
    def _none_broken_is_nothing(cls, value: object) -> object:
        """``["none"]`` broke nothing: it must not fail verification or read as a break."""
        return _without_nothing(value)


class JudgeReport(_Answer):
    checklist: dict[str, bool]  # item -> passed
    score: int = Field(ge=0, le=100)
    notes: str = ""


class Critic(Protocol):
    async def critique(
        self, request: str, repo_files: Sequence[str], emit: EmitFn
    ) -> CriticReport: ...


class Reviewer(Protocol):
    """One member of the blueprint review panel."""

    @property
    def reviewer_id(self) -> str: ...

    @property
    def family(self) -> str:
        """The model family (a reviewer never shares the planner's)."""
        ...

    async def review(
        self, request: str, blueprint: Blueprint, round: int, emit: EmitFn
    ) -> ReviewReport: ...


class Twin(Protocol):
    """Decides as the owner would, from the owner's DNA."""

    async def decide(self, request: str, blueprint: Blueprint, emit: EmitFn) -> TwinVerdict: ...

    async def answer(
        self, question: str, options: Sequence[str], context: str, emit: EmitFn
    ) -> str:
        """Pick one of ``options`` for an escalation (the ``twin`` escalation policy)."""
        ...


class TaskReviewer(Protocol):
    async def review_task(
        self, task: Task, diff: str, gates: Sequence[GateResult], emit: EmitFn, *, attempt: int
    ) -> TaskReview:
        """Review ``attempt``'s diff of ``task`` (its gates passed); the reviewer's agent is
        that attempt's, as the engineer's is."""
        ...


class CodeQC(Protocol):
    async def assess(self, blueprint: Blueprint, diff: str, emit: EmitFn) -> QCReport: ...


class Verifier(Protocol):
    """Tries to break the merged result, in a worktree of it."""

    async def attack(
        self, blueprint: Blueprint, workspace: Path, emit: EmitFn
    ) -> VerifierReport: ...


class Judge(Protocol):
    async def judge(
        self,
        blueprint: Blueprint,
        verifier: VerifierReport,
        gates: Sequence[GateResult],
        emit: EmitFn,
    ) -> JudgeReport: ...
