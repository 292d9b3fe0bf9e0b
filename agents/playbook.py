"""The sim provider's script: a playbook file bundled with each example.

A playbook says what every simulated model "answers": the critic's scores, the planner's
blueprint, each reviewer's verdict per round, the twin's decision and escalation answers, the
task reviewer's verdict per task, code QC, the verifier's probes and report, the judge's score
— and for each task, the engineer's script per attempt. Every section but the blueprint and
the engineer's is optional: the sim answers a missing one with a passing default that says
it is a SIM default. A script is a list of turns; each turn is what the model says
(``say``) plus the tool calls it makes (``calls``). The engineer's loop executes those calls
with its real toolbelt, so files are really written and tests really run. A script may name
text it expects in its prompt (``expect_in_prompt``): the sim plays it only when that text
reached the model — e.g. the retry that fixes a bug only plays if the failing test's output
was passed back. Otherwise it plays ``fallback`` (or fails loudly). Each attempt starts in a
fresh worktree of the run's integration branch, as a real model's does: a retry's script
writes again what it keeps of the failed attempt (whose files are gone), rather than editing
them (an ``edit_file`` of one answers "no such file").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agents.tool_specs import TOOL_SPECS
from engine.blueprint import Blueprint
from engine.roles import (
    CriticReport,
    QCReport,
    ReviewReport,
    TaskReview,
    TwinVerdict,
    VerifierReport,
)


class PlaybookError(ValueError):
    """A playbook that cannot be loaded. One line, naming the file."""


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error on one line: what is wrong and where."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(exc).split())


_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parsed(text: str) -> Any:
    """``text`` parsed as YAML by libyaml where PyYAML has it: on the demo's 60 KB playbook
    the pure-Python parser took 40 ms of CPU, and every run and resume loads it twice
    (libyaml: 3 ms). Its error messages differ, so a text it refuses is parsed again by the
    pure-Python parser, whose error is the one said."""
    try:
        return yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        return yaml.safe_load(text)


TOOL_NAMES = tuple(spec.name for spec in TOOL_SPECS)


class ToolCallScript(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("tool")
    @classmethod
    def _a_known_tool(cls, tool: str) -> str:
        """A tool the engineer and verifier are offered: a typo (``write_fil``) was played
        as a model calling a tool that does not exist, so the file was never written and
        the run went on without it (python-slugify's trial merged a task without its tests)."""
        if tool not in TOOL_NAMES:
            raise ValueError(f"unknown tool {tool!r}; the tools: {', '.join(TOOL_NAMES)}")
        return tool


class Turn(BaseModel):
    """One model turn: text, then tool calls (none means the model stops)."""

    model_config = ConfigDict(extra="forbid")

    say: str = ""
    calls: list[ToolCallScript] = Field(default_factory=list)


class AttemptScript(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expect_in_prompt: list[str] = Field(default_factory=list)
    turns: list[Turn] = Field(min_length=1)


class TaskScript(BaseModel):
    """Scripts for the attempts at one task; the last one repeats for later attempts."""

    model_config = ConfigDict(extra="forbid")

    attempts: list[AttemptScript] = Field(min_length=1)

    def for_attempt(self, attempt: int) -> AttemptScript:
        return self.attempts[min(attempt, len(self.attempts)) - 1]


class SimTiming(BaseModel):
    """Latency per model turn: lognormal with this median and sigma, divided by speed."""

    model_config = ConfigDict(extra="forbid")

    median_s: float = 0.8
    sigma: float = 0.35
    seed: int = 7


class TwinAnswerScript(BaseModel):
    """The twin's answer to escalations whose question contains ``match`` ("" matches all).

    The first answer that matches and is among the escalation's options is played.
    """

    model_config = ConfigDict(extra="forbid")

    match: str = ""
    choice: str


class TwinScript(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: TwinVerdict
    answers: list[TwinAnswerScript] = Field(default_factory=list)


class VerifierScript(BaseModel):
    """The verifier's probing turns (tool calls run for real), then its report."""

    model_config = ConfigDict(extra="forbid")

    turns: list[Turn] = Field(default_factory=list)
    report: VerifierReport


class JudgeScript(BaseModel):
    """The judge's verdict; checklist items containing a ``failed`` text are marked false."""

    model_config = ConfigDict(extra="forbid")

    score: int = Field(ge=0, le=100)
    notes: str = ""
    failed: list[str] = Field(default_factory=list)


class Playbook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    mode: Literal["create", "update", "audit"] | None = None
    """The run mode the example is meant for (``shopfloor demo`` uses it; --mode overrides)."""
    timing: SimTiming = SimTiming()
    critic: CriticReport | None = None
    blueprint: Blueprint | None = None
    """The planner's answer; only an audit playbook (which plans nothing) may leave it out."""
    reviewers: dict[str, list[ReviewReport]] = Field(default_factory=dict)
    """Per reviewer id (``reviewer-1``...), one report per round; the last repeats."""
    twin: TwinScript | None = None
    engineer: dict[str, TaskScript] = Field(default_factory=dict)
    task_reviewer: dict[str, list[TaskReview]] = Field(default_factory=dict)
    """Per task id, one review per time the task is reviewed; the last repeats."""
    qc: QCReport | None = None
    verifier: VerifierScript | None = None
    judge: JudgeScript | None = None
    code_review: dict[str, ReviewReport] = Field(default_factory=dict)
    """Per reviewer id, its verdict on the code in audit mode."""

    @classmethod
    def load(cls, path: Path) -> Playbook:
        """Load and validate a playbook YAML file, or raise :class:`PlaybookError`."""
        try:
            raw = _parsed(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PlaybookError(f"cannot read playbook {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise PlaybookError(f"playbook {path} is not UTF-8 text") from exc
        except yaml.YAMLError as exc:
            raise PlaybookError(f"playbook {path} is not valid YAML: {_yaml_problem(exc)}") from exc
        try:
            book = cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PlaybookError(f"playbook {path}: {where}: {first['msg']}") from exc
        if book.blueprint is None:
            if book.mode != "audit":
                raise PlaybookError(f"playbook {path}: blueprint: Field required")
            return book
        missing = [t.id for t in book.blueprint.tasks if t.id not in book.engineer]
        if missing:
            raise PlaybookError(f"playbook {path}: no engineer script for task(s) {missing}")
        task_ids = {t.id for t in book.blueprint.tasks}
        strays = sorted(set(book.task_reviewer) - task_ids)
        if strays:
            raise PlaybookError(f"playbook {path}: task_reviewer names unknown task(s) {strays}")
        empty = sorted(r for r, rounds in book.reviewers.items() if not rounds)
        if empty:
            raise PlaybookError(f"playbook {path}: reviewer(s) {empty} have no rounds")
        return book
