"""Planning (critic -> blueprint -> review -> twin) when the judging roles answer badly: a twin
that keeps sending the plan back, reviewers whose providers fail. Driven through
:class:`engine.planning.Planning` directly, with fakes, so each case runs in milliseconds."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.escalations import EscalationBroker
from engine.events import (
    BlueprintProposed,
    EscalationRaised,
    EventBase,
    ReviewRoundFinished,
    ReviewScored,
)
from engine.planning import Planning
from engine.protocols import EmitFn, PlanRequest
from engine.roles import ReviewReport, TwinVerdict
from engine.stages import RunKilled, StageFailed

PLAN = Blueprint(spec="A greeter", tasks=[Task(id="core", title="Core")])


@dataclass
class CountingPlanner:
    requests: list[PlanRequest] = field(default_factory=list)

    async def plan(self, request: PlanRequest, emit: EmitFn) -> Blueprint:
        self.requests.append(request)
        await asyncio.sleep(0)
        return PLAN


@dataclass
class Reviewer:
    reviewer_id: str
    score: int = 99
    error: Exception | None = None
    family: str = "other"

    async def review(self, request: str, bp: Blueprint, round: int, emit: EmitFn) -> ReviewReport:
        await asyncio.sleep(0)
        if self.error is not None:
            raise self.error
        return ReviewReport(score=self.score, findings=[f"{self.reviewer_id} saw it"])


@dataclass
class StubbornTwin:
    """Decides ``verdict`` every time and answers every escalation with ``answer``."""

    verdict: TwinVerdict
    answer_with: str
    answered: list[str] = field(default_factory=list)

    async def decide(self, request: str, bp: Blueprint, emit: EmitFn) -> TwinVerdict:
        await asyncio.sleep(0)
        return self.verdict

    async def answer(
        self, question: str, options: Sequence[str], context: str, emit: EmitFn
    ) -> str:
        self.answered.append(question)
        return self.answer_with


def planning(
    *,
    config: EngineConfig,
    planner: CountingPlanner,
    reviewers: Sequence[Reviewer] = (),
    twin: StubbornTwin | None = None,
    policy: str = "twin",
) -> tuple[Planning, list[EventBase]]:
    bus = EventBus("run-bad-replies")
    events: list[EventBase] = []
    bus.listen(events.append)
    broker = EscalationBroker(bus, policy=policy, twin=twin, timeout_s=5)  # type: ignore[arg-type]
    stage = Planning(
        bus=bus,
        config=config,
        request="Build a greeter",
        repo_files=[],
        planner=planner,
        broker=broker,
        reviewers=reviewers,
        twin=twin,
    )
    return stage, events


async def test_a_twin_answering_its_own_escalations_with_change_cannot_loop_for_ever():
    planner = CountingPlanner()
    twin = StubbornTwin(TwinVerdict(decision="CHANGE", confidence=0.9, notes="split it"), "change")
    stage, events = planning(
        config=EngineConfig(twin_change_rounds=2, escalation_policy="twin"),
        planner=planner,
        twin=twin,
    )
    with pytest.raises(RunKilled, match="sent the plan back 2 times"):
        await asyncio.wait_for(stage.approve(), 2)
    assert len(planner.requests) == 3  # the first plan and the two changes the config allows
    assert [e.source for e in events if isinstance(e, BlueprintProposed)] == [
        "planner",
        "twin",
        "twin",
    ]


async def test_a_twin_policy_asking_for_revisions_after_every_review_is_bounded_too():
    planner = CountingPlanner()
    twin = StubbornTwin(TwinVerdict(decision="ACCEPT", confidence=1.0), "revise")
    stage, events = planning(
        config=EngineConfig(review_rounds=1, twin_change_rounds=1, escalation_policy="twin"),
        planner=planner,
        reviewers=[Reviewer("r1", score=40)],
        twin=twin,
    )
    with pytest.raises(RunKilled, match="sent the plan back 1 times"):
        await asyncio.wait_for(stage.approve(), 2)
    assert len(planner.requests) == 2
    # the re-plan the twin asked for is not labelled as a human's
    assert [e.source for e in events if isinstance(e, BlueprintProposed)] == ["planner", "twin"]


async def test_a_reviewer_whose_provider_fails_counts_as_a_missing_vote_not_a_failed_run():
    planner = CountingPlanner()
    down = Reviewer("r3", error=RuntimeError("HTTP 503 from the provider\nretry later"))
    stage, events = planning(
        config=EngineConfig(review_quorum=2),
        planner=planner,
        reviewers=[Reviewer("r1"), Reviewer("r2"), down],
    )
    assert await asyncio.wait_for(stage.approve(), 2) == PLAN
    (finished,) = [e for e in events if isinstance(e, ReviewRoundFinished)]
    assert (finished.scores, finished.quorum, finished.passed) == ({"r1": 99, "r2": 99}, 2, True)
    assert [e.reviewer for e in events if isinstance(e, ReviewScored)] == ["r1", "r2"]


async def test_a_failed_reviewer_cannot_make_up_the_quorum():
    planner = CountingPlanner()
    stage, events = planning(
        config=EngineConfig(review_quorum=2, review_rounds=1, escalation_policy="reject"),
        planner=planner,
        reviewers=[Reviewer("r1"), Reviewer("r2", error=RuntimeError("HTTP 503"))],
        policy="reject",
    )
    with pytest.raises(RunKilled, match="rejected after review"):
        await asyncio.wait_for(stage.approve(), 2)
    (raised,) = [e for e in events if isinstance(e, EscalationRaised)]
    assert "only 1 of 2 reviewers reached 95" in raised.question
    assert "r2 failed: HTTP 503" in raised.question


async def test_every_reviewer_failing_fails_the_stage_in_one_line():
    stage, _ = planning(
        config=EngineConfig(),
        planner=CountingPlanner(),
        reviewers=[
            Reviewer("r1", error=RuntimeError("HTTP 503\ntrace")),
            Reviewer("r2", error=TimeoutError()),
        ],
    )
    with pytest.raises(StageFailed) as failed:
        await asyncio.wait_for(stage.approve(), 2)
    assert str(failed.value) == (
        "every reviewer failed: r1 failed: HTTP 503; r2 failed: TimeoutError"
    )
