"""Resuming a run stopped inside planning: the plan in the log is carried on, not drawn again.

A run stopped while the review panel's escalation was open, or while the twin had the
reviewed plan, resumes there: the critic, the planner and the reviewers are not paid again,
and an answer a person posted meanwhile (``shopfloor approve`` from another shell) is taken
for the question it answered. Each run here is stopped as a crash stops it (its task
cancelled, no RunFinished) and resumed on a bus folded from its log, with fresh roles.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from test_full_pipeline import PLAN, FakeCritic, FakeReviewer, make_factory
from test_pipeline import RUN_ID, FakePlanner

from engine.blueprint import Blueprint
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.events import (
    AgentStarted,
    BlueprintProposed,
    CriticScored,
    EscalationRaised,
    EscalationResolved,
    EventBase,
    Outcome,
    ReviewScored,
    Stage,
    TwinDecided,
)
from engine.protocols import EmitFn, ExternalDecision
from engine.roles import CriticReport, ReviewReport, TwinVerdict
from engine.state import RunState


@dataclass
class CountingCritic(FakeCritic):
    calls: int = 0

    async def critique(self, request: str, repo_files: Sequence[str], emit: EmitFn) -> CriticReport:
        self.calls += 1
        return await super().critique(request, repo_files, emit)


@dataclass
class CountingReviewer(FakeReviewer):
    calls: int = 0

    async def review(self, request: str, bp: Blueprint, round: int, emit: EmitFn) -> ReviewReport:
        self.calls += 1
        return await super().review(request, bp, round, emit)


@dataclass
class ScriptedTwin:
    """Decides as told, one verdict a call (the last one again once they run out); with
    ``hold`` it never answers, as a model call a crash cuts short."""

    verdicts: list[TwinVerdict] = field(default_factory=list)
    hold: bool = False
    seen: list[Blueprint] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    async def decide(self, request: str, bp: Blueprint, emit: EmitFn) -> TwinVerdict:
        self.seen.append(bp)
        if self.hold and len(self.seen) > len(self.verdicts):
            await asyncio.Event().wait()
        return self.verdicts[min(len(self.seen), len(self.verdicts)) - 1]

    async def answer(
        self, question: str, options: Sequence[str], context: str, emit: EmitFn
    ) -> str:
        self.asked.append(question)
        return options[0]


ACCEPT = TwinVerdict(decision="ACCEPT", confidence=0.95)


class Inbox:
    """Decisions posted from another shell, as storage's inbox hands them to the run."""

    def __init__(self, *posted: ExternalDecision) -> None:
        self.queue: asyncio.Queue[ExternalDecision] = asyncio.Queue()
        for decision in posted:
            self.queue.put_nowait(decision)

    async def decisions(
        self, run_id: str, *, until_asked: object = None
    ) -> AsyncIterator[ExternalDecision]:
        while True:
            yield await self.queue.get()


async def crash_when(
    repo: Path, root: Path, stopped: Callable[[RunState], bool], **kw: object
) -> list[EventBase]:
    """Run until ``stopped`` holds, then kill the run as a crash does: its log."""
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    task = asyncio.create_task(make_factory(repo, root, bus, **kw).run())
    for _ in range(3000):
        if stopped(bus.state) or task.done():
            break
        await asyncio.sleep(0.01)
    assert not task.done(), bus.state.reason
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert bus.state.outcome is Outcome.RUNNING
    return events


@dataclass
class Resumed:
    state: RunState
    events: list[EventBase]  # those the resumed process logged

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


async def resume(repo: Path, root: Path, log: list[EventBase], **kw: object) -> Resumed:
    bus = EventBus(RUN_ID, state=RunState.fold(log))
    events: list[EventBase] = []
    bus.listen(events.append)
    state = await asyncio.wait_for(make_factory(repo, root, bus, **kw).run(), 30)
    return Resumed(state, events)


def review_escalation_open(state: RunState) -> bool:
    return any(e.kind == "review" for e in state.open_escalations)


PANEL_SPLIT = EngineConfig(workers=2, review_rounds=1, escalation_policy="wait")
"""One review round, no quorum: the panel's escalation goes to a human."""


def split_panel() -> list[CountingReviewer]:
    return [CountingReviewer("r1", [95]), CountingReviewer("r2", [60])]


async def test_a_run_stopped_on_the_panels_escalation_takes_the_answer_posted_meanwhile(
    user_repo: Path, worktree_root: Path
):
    log = await crash_when(
        user_repo,
        worktree_root,
        review_escalation_open,
        critic=FakeCritic(),
        reviewers=split_panel(),
        twin=ScriptedTwin([ACCEPT]),
        config=PANEL_SPLIT,
    )
    (asked,) = [e for e in log if isinstance(e, EscalationRaised)]
    posted = ExternalDecision(asked.escalation_id, "approve", "human:ann", "good enough")
    critic, planner, panel, twin = (
        CountingCritic(),
        FakePlanner(PLAN),
        split_panel(),
        ScriptedTwin([ACCEPT]),
    )

    resumed = await resume(
        user_repo,
        worktree_root,
        log,
        critic=critic,
        planner=planner,
        reviewers=panel,
        twin=twin,
        decisions=Inbox(posted),
        config=PANEL_SPLIT,
    )

    assert resumed.state.outcome is Outcome.SHIPPED, resumed.state.reason
    # Nothing of the planning is done again: no critic, no new plan, no review round.
    assert critic.calls == 0 and planner.requests == []
    assert [r.calls for r in panel] == [0, 0]
    assert resumed.of(CriticScored) == resumed.of(BlueprintProposed) == []
    assert resumed.of(ReviewScored) == resumed.of(EscalationRaised) == []
    # The answer posted to the open question is the one taken, and the plan it approved
    # goes on to the twin.
    assert [
        (e.escalation_id, e.decision, e.decided_by) for e in resumed.of(EscalationResolved)
    ] == [(asked.escalation_id, "approve", "human:ann")]
    assert twin.seen == [RunState.fold(log).blueprint]
    assert len(resumed.of(TwinDecided)) == 1


async def test_a_panels_escalation_answered_after_the_resume_revises_with_the_findings(
    user_repo: Path, worktree_root: Path
):
    log = await crash_when(
        user_repo,
        worktree_root,
        review_escalation_open,
        reviewers=split_panel(),
        config=PANEL_SPLIT,
    )
    (asked,) = [e for e in log if isinstance(e, EscalationRaised)]
    planner, inbox = FakePlanner(PLAN), Inbox()
    panel = [CountingReviewer("r1", [95]), CountingReviewer("r2", [95])]
    bus = EventBus(RUN_ID, state=RunState.fold(log))
    seen: list[EventBase] = []
    bus.listen(seen.append)
    factory = make_factory(
        user_repo,
        worktree_root,
        bus,
        planner=planner,
        reviewers=panel,
        decisions=inbox,
        config=PANEL_SPLIT,
    )
    run = asyncio.create_task(factory.run())
    for _ in range(100):
        await asyncio.sleep(0.01)
        if planner.requests or run.done():
            break
    assert planner.requests == [] and not run.done()  # it waits on the question again
    await inbox.queue.put(
        ExternalDecision(asked.escalation_id, "revise", "human:ann", "name the CLI module")
    )
    state = await asyncio.wait_for(run, 60)

    assert state.outcome is Outcome.SHIPPED, state.reason
    assert [e for e in seen if isinstance(e, EscalationRaised)] == []  # the same question
    (request,) = planner.requests  # one new plan, drawn with the panel's findings and the note
    assert "- r2 r1" in request.notes and "name the CLI module" in request.notes
    proposed = [(e.revision, e.source) for e in seen if isinstance(e, BlueprintProposed)]
    assert proposed == [(2, "human")]
    assert [r.calls for r in panel] == [1, 1]


async def test_a_run_stopped_while_the_twin_judged_the_reviewed_plan_asks_only_the_twin(
    user_repo: Path, worktree_root: Path
):
    rounds = EngineConfig(workers=2, review_rounds=2)
    log = await crash_when(
        user_repo,
        worktree_root,
        lambda state: state.stage is Stage.TWIN,
        critic=FakeCritic(),
        reviewers=[CountingReviewer("r1", [80, 95]), CountingReviewer("r2", [95])],
        twin=ScriptedTwin(hold=True),
        config=rounds,
    )
    reviewed = RunState.fold(log).blueprint
    critic, planner, twin = CountingCritic(), FakePlanner(PLAN), ScriptedTwin([ACCEPT])
    panel = [CountingReviewer("r1", [95]), CountingReviewer("r2", [95])]

    resumed = await resume(
        user_repo,
        worktree_root,
        log,
        critic=critic,
        planner=planner,
        reviewers=panel,
        twin=twin,
        config=rounds,
    )

    assert resumed.state.outcome is Outcome.SHIPPED, resumed.state.reason
    assert critic.calls == 0 and planner.requests == []
    assert [r.calls for r in panel] == [0, 0]
    assert twin.seen == [reviewed]  # the plan the panel accepted, judged once
    planning_roles = ("critic", "planner", "reviewer")
    assert [e for e in resumed.of(AgentStarted) if e.role in planning_roles] == []
    assert [e.decision for e in resumed.of(TwinDecided)] == ["ACCEPT"]


async def test_a_resumed_twin_counts_the_send_backs_made_before_the_stop(
    user_repo: Path, worktree_root: Path
):
    """``twin_change_rounds`` bounds the twin's send-backs over the run, a restart included:
    the second CHANGE of a twin allowed one goes to a person, not to the planner."""
    config = EngineConfig(workers=2, twin_change_rounds=1, escalation_policy="reject")
    change = TwinVerdict(decision="CHANGE", confidence=0.9, notes="split the CLI")
    log = await crash_when(
        user_repo,
        worktree_root,
        lambda state: state.stage is Stage.TWIN and state.blueprint_revision == 2,
        twin=ScriptedTwin([change], hold=True),
        config=config,
    )
    assert [e.source for e in log if isinstance(e, BlueprintProposed)] == ["planner", "twin"]
    planner = FakePlanner(PLAN)

    resumed = await resume(
        user_repo, worktree_root, log, planner=planner, twin=ScriptedTwin([change]), config=config
    )

    assert planner.requests == []
    (asked,) = resumed.of(EscalationRaised)
    assert asked.kind == "twin" and "it asked for changes 2 times" in asked.question
    assert resumed.state.outcome is Outcome.KILLED
    assert resumed.state.reason == "the plan was rejected at the twin gate (policy:reject)"
