"""A small local model's habits, applied to the sim's valid replies, and every structured role
driven through its real parsing path with them.

:class:`MutatingProvider` wraps the sim provider and rewrites the text of its first ``times``
replies with a mutation (fences, a think block, a trailing comma, a score out of range, ...);
:func:`run_role` plays one role over it and says what came of it: the value, how many model
calls it took, or the one-line error that ended the role.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from recording_sandbox import RecordingSandbox

from agents.playbook import (
    AttemptScript,
    JudgeScript,
    Playbook,
    SimTiming,
    TaskScript,
    ToolCallScript,
    Turn,
    TwinAnswerScript,
    TwinScript,
    VerifierScript,
)
from agents.provider import Completion, CompletionRequest
from agents.roles.critic import CriticRole
from agents.roles.judge import JudgeRole
from agents.roles.planner import PlannerRole
from agents.roles.qc import CodeQCRole
from agents.roles.reviewer import ReviewerRole
from agents.roles.task_reviewer import TaskReviewerRole
from agents.roles.twin import TwinRole
from agents.roles.verifier import VerifierRole
from agents.sim import SimProvider
from engine.blueprint import Blueprint, Task
from engine.events import AgentFinished, EventBase
from engine.protocols import PlanRequest
from engine.roles import (
    CRITIC_CRITERIA,
    BlueprintPatch,
    CriticReport,
    QCReport,
    ReviewReport,
    TaskReview,
    TwinVerdict,
    VerifierReport,
)

Mutation = Callable[[str], str]

PLAN = Blueprint(
    spec="A greeter library",
    acceptance_criteria=["greet('x') returns 'hello x'", "Blank names are refused"],
    tasks=[
        Task(id="core", title="Core greeting", files=["greet/core.py"], test_plan="unit"),
        Task(id="cli", title="Command line", depends_on=["core"], files=["greet/cli.py"]),
    ],
)
"""The blueprint the planner plays, and the one the other roles are shown."""

PATCH = BlueprintPatch(search='"test_plan": "unit"', replace='"test_plan": "unit, blank names"')

BOOK = Playbook(
    name="small-model",
    timing=SimTiming(median_s=0.001, sigma=0.0),
    critic=CriticReport(
        scores=dict(zip(CRITIC_CRITERIA, (8.0, 7.5, 9.0, 6.0, 8.0), strict=True)),
        rationale="clear and small",
    ),
    blueprint=PLAN,
    reviewers={
        "reviewer-1": [ReviewReport(score=88, findings=["cover blank names"], patches=[PATCH])]
    },
    twin=TwinScript(
        decision=TwinVerdict(decision="ACCEPT", confidence=0.9, notes="as I would"),
        answers=[TwinAnswerScript(match="stuck", choice="skip")],
    ),
    engineer={
        "core": TaskScript(
            attempts=[
                AttemptScript(
                    turns=[Turn(calls=[ToolCallScript(tool="finish", args={"summary": "done"})])]
                )
            ]
        )
    },
    task_reviewer={"core": [TaskReview(approved=True, score=85, notes="tests cover it")]},
    qc=QCReport(score=85, notes="tidy"),
    verifier=VerifierScript(report=VerifierReport(tried=["blank name"], broken=["greet('')"])),
    judge=JudgeScript(score=85, notes="mostly done", failed=["Blank names"]),
)
"""Every role's valid answer, with values a mutation can get wrong (85, a patch, a break)."""


@dataclass
class MutatingProvider:
    """The sim, with the text of its first ``times`` replies rewritten by ``mutate``."""

    mutate: Mutation
    times: int = 1
    cut: bool = False
    """Those replies also stop at the output limit (a truncated reply, as the server says)."""
    inner: SimProvider = field(default_factory=lambda: SimProvider(BOOK, speed=1000))
    requests: list[CompletionRequest] = field(default_factory=list)

    family = "fake"
    simulated = False

    @property
    def model(self) -> str:
        return "small-1"

    @property
    def spec(self) -> str:
        return "fake:small-1"

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        self.requests.append(request)
        completion = await self.inner.complete(request)
        if len(self.requests) > self.times or completion.tool_calls:
            return completion
        stop = "max_tokens" if self.cut else completion.stop_reason
        return replace(completion, text=self.mutate(completion.text), stop_reason=stop)


@dataclass
class Outcome:
    """What came of one role's question: a value, or the error that ended it."""

    value: Any = None
    error: BaseException | None = None
    calls: int = 0
    events: list[EventBase] = field(default_factory=list)

    @property
    def finished_ok(self) -> bool | None:
        done = [e for e in self.events if isinstance(e, AgentFinished)]
        return done[-1].ok if done else None


ROLES = ("critic", "planner", "reviewer", "code_review", "twin", "twin_answer")
ROLES += ("task_reviewer", "qc", "verifier", "judge")


def _runner(
    role: str, provider: MutatingProvider, tmp: Path
) -> Callable[[Callable[[EventBase], None]], Awaitable[Any]]:
    request = "Build a greeter"
    if role == "critic":
        return lambda emit: CriticRole(provider).critique(request, ["README.md"], emit)
    if role == "planner":
        return lambda emit: PlannerRole(provider).plan(PlanRequest(request, ["README.md"]), emit)
    if role == "reviewer":
        return lambda emit: ReviewerRole(provider, "reviewer-1").review(request, PLAN, 1, emit)
    if role == "code_review":
        reviewer = ReviewerRole(provider, "reviewer-1")
        return lambda emit: reviewer.review_code(request, "greet/core.py: greet", "1: x", emit)
    if role == "twin":
        return lambda emit: TwinRole(provider).decide(request, PLAN, emit)
    if role == "twin_answer":
        return lambda emit: TwinRole(provider).answer(
            "core is stuck: retry or skip?", ["retry", "skip"], "", emit
        )
    if role == "task_reviewer":
        return lambda emit: TaskReviewerRole(provider).review_task(
            PLAN.tasks[0], "+x", [], emit, attempt=1
        )
    if role == "qc":
        return lambda emit: CodeQCRole(provider).assess(PLAN, "+x", emit)
    if role == "verifier":
        verifier = VerifierRole(provider, RecordingSandbox(), python="py")
        return lambda emit: verifier.attack(PLAN, tmp, emit)
    if role == "judge":
        return lambda emit: JudgeRole(provider).judge(PLAN, VerifierReport(), [], emit)
    raise ValueError(role)


async def run_role(
    role: str, mutate: Mutation, tmp: Path, *, times: int = 1, cut: bool = False
) -> Outcome:
    """Play ``role`` with its first ``times`` sim replies mutated; never raises."""
    provider = MutatingProvider(mutate, times=times, cut=cut)
    outcome = Outcome()
    try:
        outcome.value = await _runner(role, provider, tmp)(outcome.events.append)
    except Exception as exc:
        outcome.error = exc
    outcome.calls = len(provider.requests)
    return outcome


async def valid_answer(role: str, tmp: Path) -> Any:
    """The role's value from the sim's unmutated reply."""
    outcome = await run_role(role, lambda text: text, tmp)
    assert outcome.error is None, outcome.error
    return outcome.value


# --- mutations: what a small model does to a valid reply -------------------------------------


def edit(change: Callable[[dict[str, Any]], object]) -> Mutation:
    """A mutation of the reply's JSON object (``change`` edits it in place)."""

    def mutate(text: str) -> str:
        data = json.loads(text)
        change(data)
        return json.dumps(data, indent=2, ensure_ascii=False)

    return mutate


def score_to(value: object) -> Mutation:
    """The reply's score (0-100 roles) or first critic score set to ``value``."""

    def change(data: dict[str, Any]) -> None:
        if "scores" in data:
            data["scores"][next(iter(data["scores"]))] = value
        elif "score" in data:
            data["score"] = value
        elif "confidence" in data:
            data["confidence"] = value

    return edit(change)


def trailing_comma(text: str) -> str:
    end = text.rfind("}")
    return f"{text[:end].rstrip()},\n{text[end:]}"


def single_quotes(text: str) -> str:
    return json.dumps(json.loads(text)).replace('"', "'")
